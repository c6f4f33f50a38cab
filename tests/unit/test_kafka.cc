// kafka-c(): the window that orders delivery reports, topic names, and the
// config syntax of config() (syslog-ng's three spellings of a property).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/config.h"
#include "core/lexer.h"
#include "relay/completion_window.h"
#include "relay/kafka_destination.h"

using namespace logferry;

TEST_CASE("CompletionWindow counts the messages done in order") {
  CompletionWindow w(5);
  CHECK(w.capacity() == 8);
  for (int i = 0; i < 8; ++i) CHECK(w.add() == static_cast<uint64_t>(i));
  CHECK(w.full());
  w.done(2);
  w.done(1);
  CHECK(w.taken() == 0);  // 0 is not done yet
  w.done(0);
  CHECK(w.taken() == 3);
  w.done(7);
  w.done(7);   // twice: no harm
  w.done(1);   // below taken(): ignored
  w.done(99);  // never handed out: ignored
  CHECK(w.taken() == 3);
  CHECK(w.outstanding() == 5);
  for (uint64_t s : {4, 3, 6, 5}) w.done(s);
  CHECK(w.taken() == 8);
  CHECK(w.outstanding() == 0);
  // The ring is reused: numbers go on.
  for (int i = 0; i < 8; ++i) w.add();
  for (uint64_t s = 15; s >= 8; --s) w.done(s);
  CHECK(w.taken() == 16);
}

TEST_CASE("valid_kafka_topic") {
  CHECK(valid_kafka_topic("logs"));
  CHECK(valid_kafka_topic("logs-app_1.x"));
  CHECK(valid_kafka_topic(std::string(249, 'a')));
  CHECK_FALSE(valid_kafka_topic(std::string(250, 'a')));
  CHECK_FALSE(valid_kafka_topic(""));
  CHECK_FALSE(valid_kafka_topic("."));
  CHECK_FALSE(valid_kafka_topic(".."));
  CHECK_FALSE(valid_kafka_topic("my app"));
  CHECK_FALSE(valid_kafka_topic("a/b"));
}

TEST_CASE("=> is one token") {
  auto toks = tokenize("config(\"acks\" => \"all\")");
  REQUIRE(toks.size() >= 6);
  CHECK(toks[3].type == TokenType::kOperator);
  CHECK(toks[3].text == "=>");
  CHECK(tokenize("a = b")[1].type == TokenType::kError);  // a lone '=' is still an error
}

namespace {

std::unique_ptr<Config> load(const std::string& dest, std::vector<std::string>* errors) {
  DriverRegistry r;
  register_kafka_destination(r);
  std::vector<std::string> warnings;
  return Config::load_text("@version: 4.0\ndestination d { " + dest + " };\n", "t.conf", r, errors, &warnings);
}

}  // namespace

TEST_CASE("kafka-c() config(): every spelling syslog-ng takes") {
  std::vector<std::string> errors;
  auto c = load(
      "kafka-c(bootstrap-servers(\"k:9092\") topic(\"logs\") config(\"acks\" => \"all\" \"linger.ms\" \"5\" "
      "\"client.id\"(\"me\")));",
      &errors);
  std::string first_error = errors.empty() ? std::string() : errors[0];
  INFO(first_error);
  REQUIRE(c);
  CHECK(c->describe().find("kafka-c() k:9092 topic logs") != std::string::npos);

  errors.clear();
  CHECK_FALSE(load("kafka(bootstrap-servers(\"k:9092\") topic(\"logs\") config(\"acks\" =>));", &errors));
  REQUIRE(!errors.empty());
  CHECK(errors[0].find("has no value") != std::string::npos);

  errors.clear();
  CHECK_FALSE(load("kafka(bootstrap-servers(\"k:9092\") topic(\"logs\") config(=> \"all\"));", &errors));
  REQUIRE(!errors.empty());
  CHECK(errors[0].find("without a property name") != std::string::npos);

  errors.clear();
  CHECK_FALSE(load("kafka-c(topic(\"logs\"));", &errors));
  REQUIRE(!errors.empty());
  CHECK(errors[0].find("needs bootstrap-servers()") != std::string::npos);
  CHECK(errors[0].find("t.conf:2:") != std::string::npos);
}

TEST_CASE("kafka_properties: logferry's defaults, then config()") {
  KafkaDestinationConfig c;
  c.bootstrap_servers = "k:9092";
  c.config = {{"message.timeout.ms", "30000"}};
  auto p = kafka_properties(c);
  auto find = [&](const std::string& k) {
    std::string v;
    for (const auto& [key, value] : p)
      if (key == k) v = value;  // the last one wins, as in librdkafka
    return v;
  };
  CHECK(find("enable.idempotence") == "true");
  CHECK(find("bootstrap.servers") == "k:9092");
  CHECK(find("message.timeout.ms") == "30000");
}
