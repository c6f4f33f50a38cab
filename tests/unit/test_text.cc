// Unit tests for the text helpers in src/core/text.{h,cc}.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/text.h"

using logferry::append_int;
using logferry::append_json_escaped;
using logferry::append_json_string;
using logferry::append_sd_escaped;
using logferry::append_uint;
using logferry::parse_int64;
using logferry::utf8_sequence_length;

namespace {

std::string json_escaped(std::string_view s) {
  std::string out;
  append_json_escaped(out, s);
  return out;
}

// Decodes the escaped text back through a real JSON parser; throws (and so
// fails the test) if the output is not a valid JSON string body.
std::string json_roundtrip(std::string_view s) {
  std::string doc;
  append_json_string(doc, s);
  return nlohmann::json::parse(doc).get<std::string>();
}

std::string sd_escaped(std::string_view s) {
  std::string out;
  append_sd_escaped(out, s);
  return out;
}

std::string uint_str(uint64_t v, int width = 0) {
  std::string out;
  append_uint(out, v, width);
  return out;
}

std::string int_str(int64_t v) {
  std::string out;
  append_int(out, v);
  return out;
}

}  // namespace

TEST_SUITE("text") {

TEST_CASE("append_json_escaped copies plain ASCII unchanged") {
  CHECK(json_escaped("") == "");
  CHECK(json_escaped("hello world 123 {}[]:,/") == "hello world 123 {}[]:,/");
  // DEL is not a control character for JSON and needs no escape.
  CHECK(json_escaped("a\x7f" "b") == "a\x7f" "b");
}

TEST_CASE("append_json_escaped escapes quotes and backslashes") {
  CHECK(json_escaped("say \"hi\"") == "say \\\"hi\\\"");
  CHECK(json_escaped("C:\\path\\x") == "C:\\\\path\\\\x");
  CHECK(json_escaped("\"") == "\\\"");
  CHECK(json_escaped("\\") == "\\\\");
  CHECK(json_roundtrip("a\"b\\c") == "a\"b\\c");
}

TEST_CASE("append_json_escaped escapes control characters") {
  CHECK(json_escaped("a\nb") == "a\\nb");
  CHECK(json_escaped("a\rb") == "a\\rb");
  CHECK(json_escaped("a\tb") == "a\\tb");
  CHECK(json_escaped("a\bb") == "a\\bb");
  CHECK(json_escaped("a\fb") == "a\\fb");
  CHECK(json_escaped("\x01") == "\\u0001");
  CHECK(json_escaped("\x1f") == "\\u001f");
  CHECK(json_escaped("\x1b[0m") == "\\u001b[0m");
  CHECK(json_escaped(std::string_view("a\0b", 3)) == "a\\u0000b");

  std::string all;
  for (int c = 0; c < 0x20; ++c) all += static_cast<char>(c);
  CHECK(json_roundtrip(all) == all);
}

TEST_CASE("append_json_escaped leaves valid multibyte UTF-8 untouched") {
  const std::string utf8 =
      "caf\xC3\xA9 "            // é (2 bytes)
      "\xE2\x82\xAC "           // € (3 bytes)
      "\xF0\x9F\x98\x80 "       // 😀 (4 bytes)
      "\xC2\x80\xDF\xBF "       // U+0080, U+07FF
      "\xEF\xBF\xBF \xF4\x8F\xBF\xBF";  // U+FFFF, U+10FFFF
  CHECK(json_escaped(utf8) == utf8);
  CHECK(json_roundtrip(utf8) == utf8);
}

TEST_CASE("append_json_escaped writes invalid UTF-8 bytes as \\\\xNN") {
  // The text \xNN with its backslash JSON-escaped, as syslog-ng does.
  CHECK(json_escaped("\xff") == "\\\\xff");
  CHECK(json_escaped("a\x80z") == "a\\\\x80z");           // lone continuation byte
  CHECK(json_escaped("\xC3") == "\\\\xc3");               // truncated sequence at the end
  CHECK(json_escaped("\xC3(") == "\\\\xc3(");             // lead byte without continuation
  CHECK(json_escaped("\xC0\xAF") == "\\\\xc0\\\\xaf");    // overlong '/'
  CHECK(json_escaped("\xED\xA0\x80") == "\\\\xed\\\\xa0\\\\x80");  // surrogate U+D800
  CHECK(json_escaped("\xF4\x90\x80\x80") == "\\\\xf4\\\\x90\\\\x80\\\\x80");  // > U+10FFFF
  CHECK(json_escaped("\xFE\xC3\xA9") == "\\\\xfe\xC3\xA9");  // bad byte, then a valid é

  // Always valid JSON, and the decoded text shows the byte values.
  CHECK(json_roundtrip("x\xff" "y") == "x\\xffy");
  CHECK(json_roundtrip("\xC0\xAF\"\n") == "\\xc0\\xaf\"\n");
  CHECK(json_roundtrip("\xE2\x82") == "\\xe2\\x82");
}

TEST_CASE("append_json_escaped with raw_bytes copies every byte from 0x80 up as it is") {
  std::string out;
  append_json_escaped(out, std::string_view("\xff\xfe \xc3\xa9 \xc3( \"q\" \\ \x01\n\x00z", 19), true);
  CHECK(out == std::string("\xff\xfe \xc3\xa9 \xc3( \\\"q\\\" \\\\ \\u0001\\n\\u0000z"));
}

TEST_CASE("append_json_escaped and append_json_string append to the buffer") {
  std::string out = "prefix:";
  append_json_escaped(out, "a\"");
  CHECK(out == "prefix:a\\\"");
  append_json_string(out, "b");
  CHECK(out == "prefix:a\\\"\"b\"");
  std::string q;
  append_json_string(q, "");
  CHECK(q == "\"\"");
}

TEST_CASE("utf8_sequence_length accepts valid sequences") {
  CHECK(utf8_sequence_length("A", 0) == 1);
  CHECK(utf8_sequence_length(std::string_view("\0", 1), 0) == 1);
  CHECK(utf8_sequence_length("\x7f", 0) == 1);
  CHECK(utf8_sequence_length("\xC2\x80", 0) == 2);          // U+0080, smallest 2-byte
  CHECK(utf8_sequence_length("\xDF\xBF", 0) == 2);          // U+07FF
  CHECK(utf8_sequence_length("\xE0\xA0\x80", 0) == 3);      // U+0800, smallest 3-byte
  CHECK(utf8_sequence_length("\xED\x9F\xBF", 0) == 3);      // U+D7FF, just below surrogates
  CHECK(utf8_sequence_length("\xEE\x80\x80", 0) == 3);      // U+E000, just above surrogates
  CHECK(utf8_sequence_length("\xEF\xBF\xBF", 0) == 3);      // U+FFFF
  CHECK(utf8_sequence_length("\xF0\x90\x80\x80", 0) == 4);  // U+10000, smallest 4-byte
  CHECK(utf8_sequence_length("\xF4\x8F\xBF\xBF", 0) == 4);  // U+10FFFF, the largest
  // Measured at an offset inside a longer string.
  std::string_view s = "ab\xE2\x82\xAC" "c";
  CHECK(utf8_sequence_length(s, 2) == 3);
  CHECK(utf8_sequence_length(s, 5) == 1);
}

TEST_CASE("utf8_sequence_length rejects overlong forms") {
  CHECK(utf8_sequence_length("\xC0\x80", 0) == 0);          // overlong NUL
  CHECK(utf8_sequence_length("\xC1\xBF", 0) == 0);          // overlong U+007F
  CHECK(utf8_sequence_length("\xE0\x80\x80", 0) == 0);      // overlong NUL
  CHECK(utf8_sequence_length("\xE0\x9F\xBF", 0) == 0);      // overlong U+07FF
  CHECK(utf8_sequence_length("\xF0\x80\x80\x80", 0) == 0);  // overlong NUL
  CHECK(utf8_sequence_length("\xF0\x8F\xBF\xBF", 0) == 0);  // overlong U+FFFF
}

TEST_CASE("utf8_sequence_length rejects surrogates and out-of-range code points") {
  CHECK(utf8_sequence_length("\xED\xA0\x80", 0) == 0);      // U+D800
  CHECK(utf8_sequence_length("\xED\xBF\xBF", 0) == 0);      // U+DFFF
  CHECK(utf8_sequence_length("\xED\xB0\x80", 0) == 0);      // U+DC00
  CHECK(utf8_sequence_length("\xF4\x90\x80\x80", 0) == 0);  // U+110000
  CHECK(utf8_sequence_length("\xF5\x80\x80\x80", 0) == 0);
  CHECK(utf8_sequence_length("\xF8\x88\x80\x80\x80", 0) == 0);
  CHECK(utf8_sequence_length("\xFF", 0) == 0);
  CHECK(utf8_sequence_length("\xFE", 0) == 0);
}

TEST_CASE("utf8_sequence_length rejects truncated and malformed sequences") {
  CHECK(utf8_sequence_length("\x80", 0) == 0);               // continuation without lead
  CHECK(utf8_sequence_length("\xBF", 0) == 0);
  CHECK(utf8_sequence_length("\xC3", 0) == 0);               // truncated 2-byte
  CHECK(utf8_sequence_length("\xE2\x82", 0) == 0);           // truncated 3-byte
  CHECK(utf8_sequence_length("\xF0\x9F\x98", 0) == 0);       // truncated 4-byte
  CHECK(utf8_sequence_length("\xC3(", 0) == 0);              // bad continuation
  CHECK(utf8_sequence_length("\xE2\x28\xA1", 0) == 0);
  CHECK(utf8_sequence_length("\xE2\x82\x28", 0) == 0);
  CHECK(utf8_sequence_length("\xF0\x9F\x98\x28", 0) == 0);
  CHECK(utf8_sequence_length("\xC3\xC3", 0) == 0);           // lead byte as continuation
  // A valid sequence cut by the view's end is truncated, even if the
  // underlying memory continues.
  std::string_view cut("\xE2\x82\xAC", 2);
  CHECK(utf8_sequence_length(cut, 0) == 0);
}

TEST_CASE("append_uint pads with zeros to the width") {
  CHECK(uint_str(0) == "0");
  CHECK(uint_str(0, 2) == "00");
  CHECK(uint_str(7, 3) == "007");
  CHECK(uint_str(42, 2) == "42");
  CHECK(uint_str(12345, 3) == "12345");  // never truncated
  CHECK(uint_str(5, 0) == "5");
  CHECK(uint_str(5, -3) == "5");
  CHECK(uint_str(std::numeric_limits<uint64_t>::max()) == "18446744073709551615");
  CHECK(uint_str(1, 9) == "000000001");
  std::string out = "x=";
  append_uint(out, 9, 2);
  CHECK(out == "x=09");
}

TEST_CASE("append_int writes signed decimals") {
  CHECK(int_str(0) == "0");
  CHECK(int_str(-1) == "-1");
  CHECK(int_str(1709615289) == "1709615289");
  CHECK(int_str(std::numeric_limits<int64_t>::min()) == "-9223372036854775808");
  CHECK(int_str(std::numeric_limits<int64_t>::max()) == "9223372036854775807");
}

TEST_CASE("append_sd_escaped escapes quote, backslash and bracket") {
  CHECK(sd_escaped("") == "");
  CHECK(sd_escaped("plain value") == "plain value");
  CHECK(sd_escaped("a\"b") == "a\\\"b");
  CHECK(sd_escaped("a\\b") == "a\\\\b");
  CHECK(sd_escaped("a]b") == "a\\]b");
  CHECK(sd_escaped("\"\\]") == "\\\"\\\\\\]");
  CHECK(sd_escaped("\"\"") == "\\\"\\\"");
  CHECK(sd_escaped("]start and end\"") == "\\]start and end\\\"");
  // '[' and '=' need no escape in PARAM-VALUE.
  CHECK(sd_escaped("[a=b]") == "[a=b\\]");
  std::string out = "v=";
  append_sd_escaped(out, "]");
  CHECK(out == "v=\\]");
}

TEST_CASE("parse_int64 accepts decimal integers") {
  int64_t v = -1;
  CHECK(parse_int64("0", &v));
  CHECK(v == 0);
  CHECK(parse_int64("42", &v));
  CHECK(v == 42);
  CHECK(parse_int64("-42", &v));
  CHECK(v == -42);
  CHECK(parse_int64("+17", &v));
  CHECK(v == 17);
  CHECK(parse_int64("  7\t", &v));
  CHECK(v == 7);
  CHECK(parse_int64("007", &v));
  CHECK(v == 7);
  CHECK(parse_int64("9223372036854775807", &v));
  CHECK(v == std::numeric_limits<int64_t>::max());
  CHECK(parse_int64("-9223372036854775808", &v));
  CHECK(v == std::numeric_limits<int64_t>::min());
}

TEST_CASE("parse_int64 rejects anything that is not a whole number") {
  int64_t v = 99;
  CHECK_FALSE(parse_int64("", &v));
  CHECK_FALSE(parse_int64("   ", &v));
  CHECK_FALSE(parse_int64("+", &v));
  CHECK_FALSE(parse_int64("-", &v));
  CHECK_FALSE(parse_int64("12a", &v));
  CHECK_FALSE(parse_int64("a12", &v));
  CHECK_FALSE(parse_int64("1.5", &v));
  CHECK_FALSE(parse_int64("1 2", &v));
  CHECK_FALSE(parse_int64("0x10", &v));
  CHECK_FALSE(parse_int64("--5", &v));
  CHECK_FALSE(parse_int64("+-5", &v));
  CHECK_FALSE(parse_int64("++5", &v));
  CHECK_FALSE(parse_int64("9223372036854775808", &v));   // overflow
  CHECK_FALSE(parse_int64("-9223372036854775809", &v));  // underflow
}

}  // TEST_SUITE
