// Unit tests for filter expressions (src/core/filter.{h,cc}) and the lexer
// they are read with (src/core/lexer.{h,cc}), with syslog-ng 3.38 semantics
// as the reference.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/filter.h"
#include "core/lexer.h"
#include "core/message.h"
#include "core/syslog_parser.h"
#include "core/timestamp.h"

using namespace logferry;

namespace {

std::unique_ptr<Filter> parse_ok(std::string_view text) {
  FilterError error;
  auto f = parse_filter_text(text, &error);
  INFO("filter: ", std::string(text));
  INFO("error: ", error.message, " at ", error.line, ":", error.col);
  REQUIRE(f != nullptr);
  return f;
}

bool eval(std::string_view text, const LogMessage& m) { return parse_ok(text)->eval(m); }

FilterError parse_error(std::string_view text) {
  FilterError error;
  auto f = parse_filter_text(text, &error);
  INFO("filter: ", std::string(text));
  CHECK(f == nullptr);
  CHECK_FALSE(error.message.empty());
  return error;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// local4.notice from sshd on host.example.com.
LogMessage make_message() {
  LogMessage m;
  m.set(Field::kHost, "host.example.com");
  m.set(Field::kHostFrom, "relay");
  m.set(Field::kProgram, "sshd");
  m.set(Field::kPid, "1234");
  m.set(Field::kMessage, "Accepted password for root from 10.0.0.1");
  m.pri = 165;
  m.stamp = Timestamp{1709615289, 0, 0, 0};
  m.received = m.stamp;
  return m;
}

}  // namespace

TEST_SUITE("filter") {

TEST_CASE("facility() by name, number, list and range") {
  LogMessage m = make_message();  // local4 = 20
  CHECK(eval("facility(local4)", m));
  CHECK(eval("facility(LOCAL4)", m));
  CHECK_FALSE(eval("facility(user)", m));
  CHECK(eval("facility(user, local4)", m));
  CHECK(eval("facility(user local4 mail)", m));
  CHECK_FALSE(eval("facility(user mail)", m));
  CHECK(eval("facility(20)", m));
  CHECK_FALSE(eval("facility(0)", m));
  CHECK(eval("facility(kern..local7)", m));
  CHECK(eval("facility(local0..local7)", m));
  CHECK(eval("facility(local7..local0)", m));  // reversed range means the same
  CHECK_FALSE(eval("facility(local5..local7)", m));
  CHECK(eval("facility(16..23)", m));
  CHECK(eval("facility(kern, local3..local5)", m));
  m.set_pri(4, 5);
  CHECK(eval("facility(auth)", m));
  CHECK(eval("facility(security)", m));  // alias of auth
  m.set_pri(0, 0);
  CHECK(eval("facility(kern)", m));
  CHECK(eval("facility(0)", m));
  m.set_pri(23, 7);
  CHECK(eval("facility(local7)", m));
  CHECK_FALSE(eval("facility(local6)", m));
}

TEST_CASE("level() by name, number, list and range, including reversed") {
  LogMessage m = make_message();
  // err..emerg covers severities 0..3 whichever way it is written.
  for (int sev = 0; sev < 8; ++sev) {
    m.set_pri(1, sev);
    INFO("severity ", sev);
    CHECK(eval("level(err..emerg)", m) == (sev <= 3));
    CHECK(eval("level(emerg..err)", m) == (sev <= 3));
    CHECK(eval("level(warning..debug)", m) == (sev >= 4));
    CHECK(eval("level(debug..warning)", m) == (sev >= 4));
    CHECK(eval("level(" + std::to_string(sev) + ")", m));
    CHECK(eval("level(info, err)", m) == (sev == 6 || sev == 3));
    CHECK(eval("level(notice)", m) == (sev == 5));
    CHECK(eval("level(crit..crit)", m) == (sev == 2));
    CHECK(eval("level(0..1 6..7)", m) == (sev <= 1 || sev >= 6));
  }
  m.set_pri(1, 4);
  CHECK(eval("level(warn)", m));
  CHECK(eval("level(WARNING)", m));
  m.set_pri(1, 3);
  CHECK(eval("level(error)", m));
  CHECK(eval("priority(err)", m));
  CHECK(eval("severity(err)", m));
  m.set_pri(1, 0);
  CHECK(eval("level(panic)", m));
}

TEST_CASE("facility() and level() errors") {
  FilterError e = parse_error("facility(bogus)");
  CHECK(contains(e.message, "unknown facility 'bogus'"));
  CHECK(contains(e.message, "local0..local7"));  // hint
  CHECK(e.line == 1);
  CHECK(e.col == 10);
  e = parse_error("facility(24)");
  CHECK(contains(e.message, "24"));
  e = parse_error("level(8)");
  CHECK(contains(e.message, "unknown level '8'"));
  CHECK(contains(e.message, "emerg"));
  e = parse_error("level()");
  CHECK(contains(e.message, "at least one value"));
  e = parse_error("level(..err)");
  CHECK(contains(e.message, "before '..'"));
  e = parse_error("level(err..)");
  CHECK(contains(e.message, "after '..'"));
  e = parse_error("level(err..nope)");
  CHECK(contains(e.message, "nope"));
  CHECK(e.col == 12);
}

TEST_CASE("not binds tighter than and, and tighter than or") {
  LogMessage m = make_message();  // local4.notice
  // (user and err) or notice -> true; user and (err or notice) would be false.
  CHECK(eval("facility(user) and level(err) or level(notice)", m));
  // notice or (err and user) -> true.
  CHECK(eval("level(notice) or level(err) and facility(user)", m));
  // (not notice) or local4 -> true; not (notice or local4) would be false.
  CHECK(eval("not level(notice) or facility(local4)", m));
  // (not user) and notice -> true.
  CHECK(eval("not facility(user) and level(notice)", m));
  CHECK_FALSE(eval("not level(notice)", m));
  CHECK(eval("not not level(notice)", m));
  CHECK_FALSE(eval("level(notice) and not facility(local4)", m));
  CHECK(eval("level(err) or level(crit) or level(notice)", m));
  CHECK_FALSE(eval("level(notice) and facility(local4) and program(\"nope\")", m));
  // Keywords are case-insensitive.
  CHECK(eval("NOT facility(user) AND level(notice)", m));
  CHECK(eval("facility(user) Or level(notice)", m));
}

TEST_CASE("parentheses override precedence") {
  LogMessage m = make_message();
  CHECK_FALSE(eval("facility(user) and (level(err) or level(notice))", m));
  CHECK(eval("(facility(user) and level(err)) or level(notice)", m));
  CHECK_FALSE(eval("not (level(notice) or facility(user))", m));
  CHECK(eval("((level(notice)))", m));
  CHECK(eval("(not (facility(user)))", m));
}

TEST_CASE("program(), host() and message() use PCRE-style regexes by default") {
  LogMessage m = make_message();
  CHECK(eval("program(\"sshd\")", m));
  CHECK(eval("program(\"ssh\")", m));  // unanchored
  CHECK(eval("program(\"^sshd$\")", m));
  CHECK_FALSE(eval("program(\"^ssh$\")", m));
  CHECK(eval("program('^s.h[a-d]$')", m));
  CHECK(eval("host(\"example\\\\.com$\")", m));
  CHECK_FALSE(eval("host(\"^example\")", m));
  CHECK(eval("message(\"10\\\\.0\\\\.0\\\\.1\")", m));
  CHECK(eval("message(\"^Accepted\")", m));
  CHECK_FALSE(eval("message(\"^accepted\")", m));
  CHECK(eval("message(\"^accepted\" flags(ignore-case))", m));
  CHECK(eval("message(\"^accepted\" flags(ignore_case))", m));
  CHECK(eval("program(\"SSHD\" type(pcre) flags(ignore-case))", m));
  CHECK(eval("program(\"^ssh\" type(posix))", m));
  // message() does not see the header.
  CHECK_FALSE(eval("message(\"sshd\")", m));
}

TEST_CASE("type(string) matches exactly unless prefix or substring is set") {
  LogMessage m = make_message();
  CHECK(eval("program(\"sshd\" type(string))", m));
  CHECK_FALSE(eval("program(\"ssh\" type(string))", m));
  CHECK_FALSE(eval("program(\"sshd2\" type(string))", m));
  CHECK_FALSE(eval("program(\"SSHD\" type(string))", m));
  CHECK(eval("program(\"SSHD\" type(string) flags(ignore-case))", m));
  CHECK(eval("program(\"ss\" type(string) flags(prefix))", m));
  CHECK_FALSE(eval("program(\"sh\" type(string) flags(prefix))", m));
  CHECK_FALSE(eval("program(\"sshd-long\" type(string) flags(prefix))", m));
  CHECK(eval("program(\"SS\" type(string) flags(prefix, ignore-case))", m));
  CHECK(eval("program(\"sh\" type(string) flags(substring))", m));
  CHECK(eval("message(\"password for\" type(string) flags(substring))", m));
  CHECK(eval("message(\"10.0.0.1\" type(string) flags(substring))", m));  // no regex meaning
  CHECK_FALSE(eval("message(\"10.0.0.2\" type(string) flags(substring))", m));
  CHECK(eval("message(\"PASSWORD\" type(string) flags(substring ignore-case))", m));
  CHECK_FALSE(eval("message(\"PASSWORD\" type(string) flags(substring))", m));
  CHECK_FALSE(eval("program(\"a much longer needle\" type(string) flags(substring))", m));
  // A regex metacharacter is literal for strings.
  m.set(Field::kProgram, "a.b");
  CHECK(eval("program(\"a.b\" type(string))", m));
  CHECK_FALSE(eval("program(\"a.c\" type(string))", m));
  CHECK(eval("program(\"a.b\")", m));
  CHECK_FALSE(eval("program(\"^a\\\\.c$\")", m));
}

TEST_CASE("type(glob) matches the whole value") {
  LogMessage m = make_message();
  CHECK(eval("host(\"*.example.com\" type(glob))", m));
  CHECK(eval("host(\"host.*\" type(glob))", m));
  CHECK(eval("host(\"h?st.example.[a-d]om\" type(glob))", m));
  CHECK_FALSE(eval("host(\"*.example.org\" type(glob))", m));
  CHECK_FALSE(eval("host(\"host\" type(glob))", m));
  CHECK_FALSE(eval("host(\"HOST.*\" type(glob))", m));
  CHECK(eval("host(\"HOST.*\" type(glob) flags(ignore-case))", m));
  CHECK(eval("program(\"ssh*\" type(glob))", m));
}

TEST_CASE("matcher option errors") {
  FilterError e = parse_error("program(\"x\" type(foo))");
  CHECK(contains(e.message, "'foo'"));
  CHECK(contains(e.message, "pcre, string or glob"));
  CHECK(e.col == 18);
  e = parse_error("program(\"x\" flags(bogus-flag))");
  CHECK(contains(e.message, "bogus-flag"));
  CHECK(contains(e.message, "ignore-case"));
  e = parse_error("host()");
  CHECK(contains(e.message, "one pattern"));
  e = parse_error("host(\"a\" \"b\")");
  CHECK(contains(e.message, "one pattern"));
  e = parse_error("host(\"x\" value(\"PROGRAM\"))");  // value() only belongs to match()
  CHECK(contains(e.message, "unknown option 'value'"));
  e = parse_error("program(\"x\" nosuch(1))");
  CHECK(contains(e.message, "nosuch"));
  e = parse_error("program(\"x\" type(\"string\" \"glob\"))");
  CHECK(contains(e.message, "type"));
  e = parse_error("program(\"x\" type(;))");
  CHECK(contains(e.message, "';'"));
}

TEST_CASE("an invalid RE2 pattern is reported with the pattern") {
  FilterError e = parse_error("program(\"(unclosed\")");
  CHECK(contains(e.message, "invalid regular expression"));
  CHECK(contains(e.message, "(unclosed"));
  CHECK(contains(e.message, "RE2"));
  CHECK(e.line == 1);
  CHECK(e.col == 9);  // the pattern's own position
  e = parse_error("level(err) and message(\"a(?=b)\")");  // lookahead is not RE2
  CHECK(contains(e.message, "a(?=b)"));
  CHECK(e.col == 24);
  e = parse_error("match(\"x\\\\1\" value(\"MESSAGE\"))");  // backreference
  CHECK(contains(e.message, "invalid regular expression"));
  // Invalid patterns are fine for string and glob matching.
  LogMessage m = make_message();
  m.set(Field::kProgram, "(unclosed");
  CHECK(eval("program(\"(unclosed\" type(string))", m));
}

TEST_CASE("match() with value()") {
  LogMessage m = make_message();
  m.set_value("user", "alice");
  CHECK(eval("match(\"root\" value(\"MESSAGE\"))", m));
  CHECK(eval("match(\"root\" value(\"MSG\"))", m));
  CHECK(eval("match(\"^sshd$\" value(\"PROGRAM\"))", m));
  CHECK_FALSE(eval("match(\"^sshd\" value(\"MESSAGE\"))", m));
  CHECK(eval("match(\"^ali\" value(\"user\"))", m));
  CHECK_FALSE(eval("match(\"^bob\" value(\"user\"))", m));
  CHECK_FALSE(eval("match(\".\" value(\"unset\"))", m));
  CHECK(eval("match(\"^$\" value(\"unset\"))", m));
  CHECK(eval("match(\"^1234$\" value(\"PID\"))", m));
  CHECK(eval("match(\"notice\" value(\"LEVEL\"))", m));
  CHECK(eval("match(\"ALICE\" value(\"user\") flags(ignore-case))", m));
  CHECK(eval("match(\"host.\" value(\"HOST\") type(string) flags(prefix))", m));
  CHECK(eval("match(\"*.com\" value(\"HOST\") type(glob))", m));
  // syslog-ng drops a '$' written in value() (with a warning).
  CHECK(eval("match(\"^sshd$\" value(\"$PROGRAM\"))", m));
  CHECK(eval("match(\"^sshd$\" value(\"${PROGRAM}\"))", m));
  FilterError e = parse_error("match(\"x\" value(\"$\"))");
  CHECK(contains(e.message, "value()"));
  CHECK(e.col == 17);
}

TEST_CASE("match() with value() of structured data") {
  LogMessage m;
  m.received = Timestamp{1709615289, 0, 0, 0};
  ParseOptions o;
  o.time_zone = TimeZone::utc();
  parse_syslog("<14>1 2024-03-05T07:08:09Z h app - - [origin ip=\"192.0.2.1\"][a.b c=\"d\"] msg", o, m);
  REQUIRE(m.has_flag(kFlagRfc5424));
  CHECK(eval("match(\"^192\\\\.0\\\\.2\\\\.1$\" value(\".SDATA.origin.ip\"))", m));
  CHECK(eval("match(\"^d$\" value(\".SDATA.a.b.c\"))", m));
  CHECK_FALSE(eval("match(\".\" value(\".SDATA.origin.nope\"))", m));
}

TEST_CASE("match() with template()") {
  LogMessage m = make_message();
  CHECK(eval("match(\"^sshd\\\\[1234\\\\]$\" template(\"$PROGRAM[$PID]\"))", m));
  CHECK(eval("match(\"^SSHD$\" template(\"$(uppercase $PROGRAM)\"))", m));
  CHECK(eval("match(\"^local4\\\\.notice$\" template(\"${FACILITY}.${LEVEL}\"))", m));
  CHECK_FALSE(eval("match(\"^x\" template(\"$HOST\"))", m));
  CHECK(eval("match(\"sshd: Accepted\" template(\"$PROGRAM: $MSG\") type(string) flags(prefix))", m));
  FilterError e = parse_error("match(\"x\" template(\"$(nosuch)\"))");
  CHECK(contains(e.message, "invalid template"));
  CHECK(contains(e.message, "nosuch"));
}

TEST_CASE("match() without value() sees PROGRAM[PID]: MESSAGE, as syslog-ng does") {
  LogMessage m = make_message();
  CHECK(eval("match(\"Accepted password\")", m));
  CHECK(eval("match(\"^sshd\\\\[1234\\\\]: Accepted\")", m));
  CHECK_FALSE(eval("match(\"^Accepted\")", m));
  m.set(Field::kPid, "");
  CHECK(eval("match(\"^sshd: Accepted\")", m));
}

TEST_CASE("tags()") {
  LogMessage m = make_message();
  CHECK_FALSE(eval("tags(\"a\")", m));
  m.add_tag("a");
  m.add_tag(".source.net");
  CHECK(eval("tags(\"a\")", m));
  CHECK(eval("tags(a)", m));
  CHECK(eval("tags(\".source.net\")", m));
  CHECK(eval("tags(\"x\", \"a\")", m));
  CHECK(eval("tags(\"x\" \"a\")", m));
  CHECK_FALSE(eval("tags(\"x\" \"y\")", m));
  CHECK_FALSE(eval("tags(\"A\")", m));  // exact
  CHECK(eval("not tags(\"x\") and tags(\"a\")", m));
  FilterError e = parse_error("tags()");
  CHECK(contains(e.message, "tag"));
}

TEST_CASE("string comparisons eq ne lt le gt ge") {
  LogMessage m = make_message();
  CHECK(eval("\"$PROGRAM\" eq \"sshd\"", m));
  CHECK_FALSE(eval("\"$PROGRAM\" ne \"sshd\"", m));
  CHECK(eval("\"$PROGRAM\" ne \"cron\"", m));
  CHECK(eval("\"${HOST}\" eq \"host.example.com\"", m));
  CHECK(eval("'$PROGRAM[$PID]' eq 'sshd[1234]'", m));
  CHECK(eval("\"abc\" lt \"abd\"", m));
  CHECK_FALSE(eval("\"abd\" lt \"abc\"", m));
  CHECK(eval("\"b\" gt \"abc\"", m));
  CHECK(eval("\"abc\" le \"abc\"", m));
  CHECK(eval("\"abc\" ge \"abc\"", m));
  CHECK_FALSE(eval("\"abc\" gt \"abc\"", m));
  CHECK(eval("\"ab\" lt \"abc\"", m));
  CHECK(eval("\"\" lt \"a\"", m));
  CHECK(eval("\"10\" lt \"9\"", m));  // as strings
  CHECK(eval("\"${PID}\" ne \"\"", m));  // syslog-ng's "has a PID" idiom
  CHECK(eval("\"${HOST}${PID}\" ne \"${HOST}\"", m));
  CHECK(eval("\"$PROGRAM\" EQ \"sshd\"", m));  // case-insensitive keywords
  CHECK(eval("$PROGRAM eq sshd", m));         // unquoted words work too
  CHECK(eval("\"$(uppercase $PROGRAM)\" eq \"SSHD\"", m));
}

TEST_CASE("numeric comparisons == != < <= > >=") {
  LogMessage m = make_message();
  CHECK(eval("\"$PID\" == 1234", m));
  CHECK(eval("\"$PID\" == \"01234\"", m));
  CHECK_FALSE(eval("\"$PID\" != 1234", m));
  CHECK(eval("\"$PID\" != 1235", m));
  CHECK(eval("\"$PID\" < 2000", m));
  CHECK_FALSE(eval("\"$PID\" < 1234", m));
  CHECK(eval("\"$PID\" <= 1234", m));
  CHECK(eval("\"$PID\" > 1233", m));
  CHECK_FALSE(eval("\"$PID\" > 1234", m));
  CHECK(eval("\"$PID\" >= 1234", m));
  CHECK_FALSE(eval("\"$PID\" >= 1235", m));
  CHECK_FALSE(eval("\"10\" < \"9\"", m));  // as numbers, unlike lt
  CHECK(eval("\"-5\" < 3", m));
  CHECK(eval("\"${LEVEL_NUM}\" <= 5", m));
  CHECK_FALSE(eval("\"${LEVEL_NUM}\" < 5", m));
  CHECK(eval("\"${FACILITY_NUM}\" == 20", m));
  CHECK(eval("\"+7\" == 7", m));
  CHECK(eval("\" 7 \" == 7", m));
}

TEST_CASE("numeric comparisons with non-numeric operands") {
  // logferry's documented rule: a value that is not a number makes every
  // numeric comparison false except != (syslog-ng 3.38 would read it as 0).
  LogMessage m = make_message();
  CHECK_FALSE(eval("\"abc\" == 0", m));
  CHECK(eval("\"abc\" != 0", m));
  CHECK_FALSE(eval("\"abc\" < 5", m));
  CHECK_FALSE(eval("\"abc\" <= 5", m));
  CHECK_FALSE(eval("\"abc\" > 5", m));
  CHECK_FALSE(eval("\"abc\" >= 5", m));
  CHECK_FALSE(eval("5 == \"abc\"", m));
  CHECK_FALSE(eval("\"\" == 0", m));
  CHECK(eval("\"\" != 0", m));
  CHECK_FALSE(eval("\"$PROGRAM\" == \"$PROGRAM\"", m));  // equal strings, but not numbers
  CHECK(eval("\"$PROGRAM\" eq \"$PROGRAM\"", m));
  CHECK_FALSE(eval("\"12abc\" == 12", m));
  CHECK_FALSE(eval("\"1.5\" > 1", m));
  CHECK_FALSE(eval("\"${unset}\" == 0", m));
}

TEST_CASE("comparison errors") {
  FilterError e = parse_error("\"a\" foo \"b\"");
  CHECK(contains(e.message, "comparison operator"));
  CHECK(contains(e.message, "'foo'"));
  CHECK(e.col == 5);
  e = parse_error("\"a\" ==");
  CHECK(contains(e.message, "after '=='"));
  CHECK(contains(e.message, "end of the input"));
  e = parse_error("\"a\" = \"b\"");
  CHECK(contains(e.message, "'='"));
  e = parse_error("\"a\"");
  CHECK(contains(e.message, "comparison operator"));
  e = parse_error("\"$(nosuch)\" eq \"x\"");
  CHECK(contains(e.message, "invalid template"));
  CHECK(contains(e.message, "nosuch"));
  e = parse_error("\"x\" eq \"${unterminated\"");
  CHECK(contains(e.message, "invalid template"));
}

TEST_CASE("comparisons that render templates containing $(if) do not clobber each other") {
  LogMessage m = make_message();
  // The operand renders a nested comparison while it is being rendered.
  CHECK(eval("\"$(if ('$PID' == '1234') 'a' 'b')x\" eq \"ax\"", m));
  CHECK(eval("\"[$(if ('$PROGRAM' eq 'sshd') yes no)]\" eq \"[yes]\"", m));
  CHECK(eval("\"$(if (program('sshd')) 1 0)$(if (program('nope')) 1 0)\" == 10", m));
  CHECK(eval("match(\"^x-sshd-y$\" template(\"x-$(if (match('ssh' value('PROGRAM'))) $PROGRAM no)-y\"))", m));
}

TEST_CASE("error positions: line and column") {
  FilterError e = parse_error("level(err) and\n  bogus(1)");
  CHECK(e.line == 2);
  CHECK(e.col == 3);
  CHECK(contains(e.message, "unknown filter function 'bogus'"));

  e = parse_error("level(err) and");
  CHECK(contains(e.message, "end of the input"));
  CHECK(e.line == 1);
  CHECK(e.col == 15);

  e = parse_error("(level(err)");
  CHECK(contains(e.message, "')'"));
  CHECK(e.col == 12);

  e = parse_error("level(err) )");
  CHECK(contains(e.message, "')'"));
  CHECK(e.col == 12);

  e = parse_error("facility(local4) and level(err) and\n\tprogram(\"[\")");
  CHECK(e.line == 2);
  CHECK(e.col == 10);

  e = parse_error("");
  CHECK(contains(e.message, "expected a filter"));

  e = parse_error("level(err) and program(\"unterminated)");
  CHECK(contains(e.message, "unterminated string"));
  CHECK(e.col == 24);

  e = parse_error("level(err) or &");
  CHECK(contains(e.message, "unexpected character"));
  CHECK(e.col == 15);
}

TEST_CASE("error positions count from where the text started") {
  TokenStream tokens(tokenize("level(err) and\n   bogus()", 5, 10));
  FilterError e;
  CHECK(parse_filter(tokens, FilterResolver{}, &e) == nullptr);
  CHECK(e.line == 6);
  CHECK(e.col == 4);
}

TEST_CASE("an unknown filter function gets a hint") {
  FilterError e = parse_error("lvl(err)");
  CHECK(contains(e.message, "unknown filter function 'lvl'"));
  CHECK(contains(e.message, "expected facility, level"));
  CHECK(contains(e.message, "match"));
  CHECK(e.col == 1);
  e = parse_error("level(err) or subnet(\"10.0.0.0/8\")");
  CHECK(contains(e.message, "'subnet'"));
  CHECK(e.col == 15);
}

TEST_CASE("parse_filter stops before a token that cannot continue the expression") {
  TokenStream tokens(tokenize("level(err) or level(notice); next"));
  FilterError e;
  auto f = parse_filter(tokens, FilterResolver{}, &e);
  REQUIRE(f != nullptr);
  CHECK(e.message.empty());
  CHECK(tokens.peek().type == TokenType::kSemicolon);
  LogMessage m = make_message();
  CHECK(f->eval(m));
}

TEST_CASE("filter() references resolve through the resolver") {
  std::map<std::string, std::unique_ptr<Filter>, std::less<>> named;
  named["f_notice"] = parse_ok("level(notice)");
  named["f_user"] = parse_ok("facility(user)");
  FilterResolver resolver = [&](std::string_view name) -> const Filter* {
    auto it = named.find(name);
    return it == named.end() ? nullptr : it->second.get();
  };
  LogMessage m = make_message();
  {
    TokenStream tokens(tokenize("filter(f_notice) and not filter(\"f_user\")"));
    FilterError e;
    auto f = parse_filter(tokens, resolver, &e);
    REQUIRE(f != nullptr);
    CHECK(f->eval(m));
    m.set_pri(1, 5);
    CHECK_FALSE(f->eval(m));
  }
  {
    TokenStream tokens(tokenize("filter(f_missing)"));
    FilterError e;
    CHECK(parse_filter(tokens, resolver, &e) == nullptr);
    CHECK(contains(e.message, "undefined filter 'f_missing'"));
    CHECK(e.col == 8);
  }
  // parse_filter_text has no resolver: every reference is undefined.
  FilterError e = parse_error("filter(f_notice)");
  CHECK(contains(e.message, "undefined filter"));
}

TEST_CASE("function names are case-insensitive") {
  LogMessage m = make_message();
  CHECK(eval("LEVEL(notice)", m));
  CHECK(eval("Facility(local4)", m));
  CHECK(eval("Program(\"sshd\")", m));
}

TEST_CASE("tokenize: words, strings, operators and positions") {
  auto t = tokenize("level(err..emerg) and \"a\\\"b\\n\" 'c\\d' <= != >= < > == # comment\n;");
  REQUIRE(t.size() == 17);
  CHECK(t[0].type == TokenType::kWord);
  CHECK(t[0].text == "level");
  CHECK(t[1].type == TokenType::kLParen);
  CHECK(t[2].text == "err");
  CHECK(t[3].type == TokenType::kDotDot);
  CHECK(t[4].text == "emerg");
  CHECK(t[4].col == 12);
  CHECK(t[5].type == TokenType::kRParen);
  CHECK(t[6].text == "and");
  CHECK(t[7].type == TokenType::kString);
  CHECK(t[7].text == "a\"b\n");
  CHECK(t[8].type == TokenType::kString);
  CHECK(t[8].text == "c\\d");  // single quotes: as written
  for (int i = 9; i <= 14; ++i) CHECK(t[static_cast<size_t>(i)].type == TokenType::kOperator);
  CHECK(t[9].text == "<=");
  CHECK(t[10].text == "!=");
  CHECK(t[11].text == ">=");
  CHECK(t[12].text == "<");
  CHECK(t[13].text == ">");
  CHECK(t[14].text == "==");
  CHECK(t[15].type == TokenType::kSemicolon);
  CHECK(t[15].line == 2);
  CHECK(t[15].col == 1);
  CHECK(t[16].type == TokenType::kEnd);

  auto r = tokenize("local0..local7 0.0.0.0 /var/log/x.log");
  REQUIRE(r.size() == 6);
  CHECK(r[0].text == "local0");
  CHECK(r[1].type == TokenType::kDotDot);
  CHECK(r[2].text == "local7");
  CHECK(r[3].text == "0.0.0.0");
  CHECK(r[4].text == "/var/log/x.log");

  auto bad = tokenize("\"open");
  REQUIRE(bad.size() == 2);
  CHECK(bad[0].type == TokenType::kError);
  CHECK(bad[1].type == TokenType::kEnd);
}

}  // TEST_SUITE
