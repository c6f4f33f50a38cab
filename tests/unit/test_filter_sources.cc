// Filter functions that look at where a message came from: netmask(),
// netmask6(), source(), in-list(), and match() with flags(store-matches).
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "core/filter.h"
#include "core/lexer.h"
#include "core/message.h"

using namespace logferry;

namespace {

std::unique_ptr<Filter> compile(const std::string& text, FilterError* err,
                                const SourceResolver& sources = nullptr) {
  TokenStream ts(tokenize(text));
  FilterResolver none;
  return parse_filter(ts, none, err, sources);
}

LogMessage from(const char* ip, const char* text = "hello") {
  LogMessage m;
  m.set(Field::kSourceIp, ip);
  m.set(Field::kMessage, text);
  m.set(Field::kProgram, "app");
  return m;
}

}  // namespace

TEST_CASE("netmask() matches SOURCEIP in a prefix or dotted mask") {
  FilterError err;
  auto f = compile("netmask(\"10.1.0.0/16\")", &err);
  REQUIRE(f);
  CHECK(f->eval(from("10.1.200.3")));
  CHECK_FALSE(f->eval(from("10.2.0.1")));
  CHECK_FALSE(f->eval(from("")));
  CHECK_FALSE(f->eval(from("not-an-ip")));
  auto g = compile("netmask(\"192.168.1.0/255.255.255.128\")", &err);
  REQUIRE(g);
  CHECK(g->eval(from("192.168.1.127")));
  CHECK_FALSE(g->eval(from("192.168.1.128")));
  auto host = compile("netmask(\"127.0.0.1\")", &err);
  REQUIRE(host);
  CHECK(host->eval(from("127.0.0.1")));
  CHECK_FALSE(host->eval(from("127.0.0.2")));
}

TEST_CASE("netmask6() matches IPv6 prefixes") {
  FilterError err;
  auto f = compile("netmask6(\"2001:db8::/32\")", &err);
  REQUIRE(f);
  CHECK(f->eval(from("2001:db8:1::5")));
  CHECK_FALSE(f->eval(from("2001:db9::1")));
  CHECK_FALSE(f->eval(from("10.0.0.1")));
}

TEST_CASE("netmask() rejects a bad network with a hint") {
  FilterError err;
  CHECK_FALSE(compile("netmask(\"10.0.0.0/33\")", &err));
  CHECK(err.message.find("invalid network") != std::string::npos);
  FilterError err2;
  CHECK_FALSE(compile("netmask(\"nonsense\")", &err2));
  CHECK(err2.col == 9);
}

TEST_CASE("source() compares the message's source block") {
  SourceResolver sources = [](std::string_view n) { return n == "s_a" ? 0 : n == "s_b" ? 1 : -1; };
  FilterError err;
  auto f = compile("source(s_b)", &err, sources);
  REQUIRE(f);
  LogMessage m = from("1.2.3.4");
  m.source_id = 1;
  CHECK(f->eval(m));
  m.source_id = 0;
  CHECK_FALSE(f->eval(m));
  FilterError err2;
  CHECK_FALSE(compile("source(s_zz)", &err2, sources));
  CHECK(err2.message.find("undefined source 's_zz'") != std::string::npos);
}

TEST_CASE("in-list() reads its file once and matches whole lines") {
  std::string path = "/tmp/logferry-inlist-test.txt";
  {
    std::ofstream out(path);
    out << "web1\ndb2  \r\n\n";
  }
  FilterError err;
  auto f = compile("in-list(\"" + path + "\" value(\"HOST\"))", &err);
  REQUIRE(f);
  LogMessage m = from("1.1.1.1");
  m.set(Field::kHost, "db2");
  CHECK(f->eval(m));
  m.set(Field::kHost, "db");
  CHECK_FALSE(f->eval(m));
  std::remove(path.c_str());
  FilterError err2;
  CHECK_FALSE(compile("in-list(\"/nonexistent/list\" value(\"HOST\"))", &err2));
  CHECK(err2.message.find("cannot read") != std::string::npos);
}

TEST_CASE("match() with store-matches sets $0..$N only through eval_mut") {
  FilterError err;
  auto f = compile("match(\"user=(\\\\w+) id=(\\\\d+)\" value(\"MESSAGE\") flags(store-matches))", &err);
  REQUIRE(f);
  LogMessage m = from("1.1.1.1", "login user=bob id=42 ok");
  std::string_view v;
  CHECK(f->eval(m));
  CHECK_FALSE(m.get_value("1", &v));  // const eval changes nothing
  CHECK(f->eval_mut(m));
  REQUIRE(m.get_value("0", &v));
  CHECK(v == "user=bob id=42");
  REQUIRE(m.get_value("1", &v));
  CHECK(v == "bob");
  REQUIRE(m.get_value("2", &v));
  CHECK(v == "42");
  LogMessage miss = from("1.1.1.1", "nothing here");
  CHECK_FALSE(f->eval_mut(miss));
  CHECK_FALSE(miss.get_value("1", &v));
  // Through not/and/or the groups are still stored.
  auto g = compile("not level(debug) and match(\"id=(\\\\d+)\" flags(store-matches))", &err);
  REQUIRE(g);
  LogMessage n = from("1.1.1.1", "id=7");
  CHECK(g->eval_mut(n));
  REQUIRE(n.get_value("1", &v));
  CHECK(v == "7");
}

TEST_CASE("in-list() refuses a file that is not a regular file") {
  FilterError err;
  CHECK_FALSE(compile("in-list(\"/dev/zero\" value(\"HOST\"))", &err));
  CHECK(err.message.find("not a regular file") != std::string::npos);
}
