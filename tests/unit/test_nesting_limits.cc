// Hostile nesting in filters, templates and configs is an error, never a
// stack overflow.
#include <doctest/doctest.h>

#include <string>

#include "core/config.h"
#include "core/filter.h"
#include "core/template.h"

using namespace logferry;

TEST_CASE("deeply nested filter parentheses are refused") {
  std::string text = std::string(20000, '(') + "level(err)" + std::string(20000, ')');
  FilterError err;
  CHECK(parse_filter_text(text, &err) == nullptr);
  CHECK(err.message.find("nested more than 128 levels") != std::string::npos);
  std::string nots;
  for (int i = 0; i < 20000; ++i) nots += "not ";
  FilterError err2;
  CHECK(parse_filter_text(nots + "level(err)", &err2) == nullptr);
  // Reasonable nesting still works.
  FilterError ok;
  CHECK(parse_filter_text(std::string(50, '(') + "level(err)" + std::string(50, ')'), &ok) != nullptr);
}

TEST_CASE("deeply nested template functions are refused") {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "$(echo ";
  text += "x";
  text += std::string(5000, ')');
  std::string err;
  CHECK(Template::compile(text, &err) == nullptr);
  CHECK(err.find("nested more than 64 levels") != std::string::npos);
  std::string err2;
  CHECK(Template::compile("$(if (" + std::string(20000, '(') + "level(err)" + std::string(20000, ')') + ") a b)", &err2) == nullptr);
}

TEST_CASE("deeply nested config blocks are refused") {
  DriverRegistry none;
  std::vector<std::string> errors, warnings;
  std::string logs = "@version: 4.0\nlog { ";
  for (int i = 0; i < 20000; ++i) logs += "log { ";
  for (int i = 0; i < 20000; ++i) logs += "}; ";
  logs += "};\n";
  CHECK(Config::load_text(logs, "deep.conf", none, &errors, &warnings) == nullptr);
  REQUIRE(!errors.empty());
  CHECK(errors[0].find("nested more than 32 levels") != std::string::npos);
  errors.clear();
  std::string opts = "@version: 4.0\noptions { a(";
  for (int i = 0; i < 20000; ++i) opts += "b(";
  opts += std::string(20001, ')') + "; };\n";
  CHECK(Config::load_text(opts, "deep.conf", none, &errors, &warnings) == nullptr);
  REQUIRE(!errors.empty());
  CHECK(errors[0].find("nested more than 32 levels") != std::string::npos);
}

TEST_CASE("a config path that is not a regular file is refused, not read forever") {
  DriverRegistry none;
  std::vector<std::string> errors, warnings;
  CHECK(Config::load_file("/dev/zero", none, &errors, &warnings) == nullptr);
  REQUIRE(!errors.empty());
  CHECK(errors[0].find("not a regular file") != std::string::npos);
}
