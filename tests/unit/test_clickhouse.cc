// clickhouse() destination: reading ClickHouse's answers to failed requests,
// as 18.16 and later versions write them (and as a hostile row may bend
// them: the answer quotes the input after a parse error).
#include <doctest/doctest.h>

#include <string>

#include "server/clickhouse_answer.h"

using namespace logferry;

namespace {

// What 18.16 answered to a row whose UInt32 column held "abc" (HTTP 500).
const std::string kParse18 =
    "Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected \" before: abc\",\"message\":\"bad\"}\\n: "
    "(while read the value of key n): (at row 3)\n, e.what() = DB::Exception\n";

}  // namespace

TEST_CASE("clickhouse_error_code: 18.16's and later versions' forms, and answers without one") {
  CHECK(clickhouse_error_code(kParse18) == 27);
  CHECK(clickhouse_error_code("Code: 60. DB::Exception: Table d.t doesn't exist. (UNKNOWN_TABLE) (version 23.8)\n") == 60);
  CHECK(clickhouse_error_code("") == -1);
  CHECK(clickhouse_error_code("<html>502 Bad Gateway</html>") == -1);
  CHECK(clickhouse_error_code("Code: x") == -1);
  CHECK(clickhouse_error_code(std::string(100, 'x') + "Code: 27") == -1);  // not at the start
  CHECK(clickhouse_error_code("Code: 99999999999999999999") == 999999);  // at most 6 digits read
}

TEST_CASE("clickhouse_bad_row: the last (at row N), bounded") {
  CHECK(clickhouse_bad_row(kParse18) == 3);
  CHECK(clickhouse_bad_row("Code: 72, Unsigned type must not contain '-' symbol: (at row 1)\n") == 1);
  CHECK(clickhouse_bad_row("Code: 60, Table doesn't exist") == 0);
  // A value that looks like the marker comes before the real one.
  CHECK(clickhouse_bad_row("Cannot parse input: expected \" before: (at row 9)\"}: (at row 2)") == 2);
  CHECK(clickhouse_bad_row("(at row 99999999999999999999999)") < 1000000000);
}

TEST_CASE("clickhouse_row_error and clickhouse_schema_error") {
  CHECK(clickhouse_row_error(27, kParse18));
  CHECK(clickhouse_row_error(72, "Code: 72, ..."));
  CHECK(clickhouse_row_error(-1, "something (at row 4)"));
  CHECK_FALSE(clickhouse_row_error(193, "Code: 193, Wrong password for user lf"));
  CHECK_FALSE(clickhouse_row_error(60, "Code: 60, Table d.t doesn't exist."));
  CHECK_FALSE(clickhouse_row_error(-1, ""));
  CHECK(clickhouse_schema_error(60));
  CHECK(clickhouse_schema_error(81));
  CHECK(clickhouse_schema_error(16));
  CHECK_FALSE(clickhouse_schema_error(27));
}

TEST_CASE("clickhouse_answer_text: the first line, shortened, printable") {
  CHECK(clickhouse_answer_text(kParse18, 500) ==
        "HTTP 500: Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected \" before: "
        "abc\",\"message\":\"bad\"}\\n: (while read the value of key n): (at row 3)");
  CHECK(clickhouse_answer_text("Code: 193, e.displayText() = DB::Exception: Wrong password for user lf, e.what() = "
                               "DB::Exception\n", 401) == "HTTP 401: Code: 193, e.displayText() = DB::Exception: "
                                                          "Wrong password for user lf");
  CHECK(clickhouse_answer_text("", 502) == "HTTP 502");
  CHECK(clickhouse_answer_text("bad \x01\xff\x7f bytes", 500) == "HTTP 500: bad ??? bytes");
  CHECK(clickhouse_answer_text(std::string(1000, 'a'), 500).size() == std::string("HTTP 500: ").size() + 303);
}
