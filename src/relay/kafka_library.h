// librdkafka, loaded when the first kafka-c() destination is configured or
// started (dlopen of librdkafka.so.1), not linked: its dependencies
// (OpenSSL, SASL, compression libraries) would add to the resident memory
// and the start time of every logferry, clients that never talk to Kafka
// included.  The functions logferry calls are looked up once.
#pragma once

#include <librdkafka/rdkafka.h>

#include <string>

namespace logferry {

#define LF_RDKAFKA_FUNCTIONS(X) \
  X(rd_kafka_conf_new)            \
  X(rd_kafka_conf_destroy)        \
  X(rd_kafka_conf_set)            \
  X(rd_kafka_conf_set_opaque)     \
  X(rd_kafka_conf_set_dr_msg_cb)  \
  X(rd_kafka_conf_set_error_cb)   \
  X(rd_kafka_conf_set_log_cb)     \
  X(rd_kafka_new)                 \
  X(rd_kafka_destroy)             \
  X(rd_kafka_poll)                \
  X(rd_kafka_opaque)              \
  X(rd_kafka_purge)               \
  X(rd_kafka_outq_len)            \
  X(rd_kafka_queue_get_main)      \
  X(rd_kafka_queue_destroy)       \
  X(rd_kafka_queue_io_event_enable) \
  X(rd_kafka_set_log_queue)       \
  X(rd_kafka_topic_new)           \
  X(rd_kafka_topic_destroy)       \
  X(rd_kafka_topic_name)          \
  X(rd_kafka_produce)             \
  X(rd_kafka_last_error)          \
  X(rd_kafka_err2str)             \
  X(rd_kafka_fatal_error)         \
  X(rd_kafka_version_str)

struct RdKafka {
#define LF_RDKAFKA_POINTER(name) decltype(&::name) name = nullptr;
  LF_RDKAFKA_FUNCTIONS(LF_RDKAFKA_POINTER)
#undef LF_RDKAFKA_POINTER
};

// The loaded library, or null with *error set (the same answer for the
// whole process).
const RdKafka* load_rdkafka(std::string* error);

}  // namespace logferry
