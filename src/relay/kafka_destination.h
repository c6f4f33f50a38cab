// kafka-c() destination (and its alias kafka()): every message becomes a
// Kafka record, produced through librdkafka as an idempotent producer, as
// syslog-ng's kafka-c() driver does.  A message counts as taken (delivery
// tracking, ferry acknowledgements, file positions) only once Kafka
// confirmed it in a delivery report.
//
// The parts, each in its own file:
//   kafka_destination.h     the config
//   kafka_options.cc        reading and checking the options, describe(),
//                           the driver
//   kafka_library.{h,cc}    librdkafka, loaded when a kafka-c() destination
//                           is configured (dlopen), not linked
//   kafka_destination.cc    the running producer on the output thread's loop
//   completion_window.h     which messages are confirmed, in order
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"

namespace logferry {

struct KafkaDestinationConfig {
  std::string bootstrap_servers;                        // "host:port,host:port"
  std::shared_ptr<const Template> topic;                // rendered per message
  std::string fallback_topic;                           // for a rendered name Kafka cannot take; empty: none
  std::shared_ptr<const Template> key;                  // null: records without a key
  std::shared_ptr<const Template> message;              // the record's value
  std::vector<std::pair<std::string, std::string>> config;  // config(): librdkafka properties, in order
  int64_t flush_timeout_on_shutdown_ms = 60000;         // at shutdown, how long unconfirmed records may take
  size_t max_in_flight = 10000;                         // log-fifo-size(): unconfirmed records before the sources wait
  RenderOptions render;
  std::shared_ptr<const TimeZone> zone;                 // keeps render.time_zone alive
};

// One line for `logferry check`, e.g. "kafka-c() localhost:9092 topic logs-${PROGRAM}".
std::string describe_kafka_destination(const KafkaDestinationConfig& c);

// The librdkafka properties the producer is created with: logferry's
// defaults, then config() (which may override them), then log.queue=true
// (librdkafka's log served on the output thread).
std::vector<std::pair<std::string, std::string>> kafka_properties(const KafkaDestinationConfig& c);

// A topic name Kafka accepts: 1 to 249 bytes of [A-Za-z0-9._-], not "." or "..".
bool valid_kafka_topic(std::string_view name);

std::unique_ptr<Destination> make_kafka_destination(const KafkaDestinationConfig& c);

void register_kafka_destination(DriverRegistry& registry);

}  // namespace logferry
