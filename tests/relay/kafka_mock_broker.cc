// A Kafka cluster for the kafka-c() tests: librdkafka's mock cluster (real
// Kafka protocol on loopback ports, in this process), driven by a test
// script through stdin/stdout.
//
// Prints "bootstraps HOST:PORT,..." once the cluster runs, then answers one
// command per line; every answer ends with a line "ok" (or "error TEXT"):
//   count TOPIC             "count N": records stored in TOPIC (all partitions)
//   dump TOPIC              every record of TOPIC, one JSON line each:
//                           {"partition":P,"offset":O,"key":K|null,"value":V}
//                           (K and V as latin-1 strings: bytes 0-255 map to
//                           code points 0-255)
//   create TOPIC PARTITIONS creates a topic
//   broker-down ID / broker-up ID
//                           takes a broker off the network or back (ID 1-3)
//   produce-errors N ERR    the next N Produce requests fail with Kafka error ERR
//                           (a number, e.g. 7 REQUEST_TIMED_OUT)
//   topic-error TOPIC ERR   metadata answers for TOPIC carry error ERR
//                           (e.g. 3 UNKNOWN_TOPIC_OR_PART; 0 clears it)
//   quit
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr int kBrokers = 3;
constexpr int kTimeoutMs = 30000;  // one metadata or fetch round trip, generously

rd_kafka_t* new_client(rd_kafka_type_t type, const std::string& bootstraps) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (!bootstraps.empty()) rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "log_level", "2", err, sizeof(err));  // quiet while brokers are down on purpose
  if (type == RD_KAFKA_CONSUMER) {
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "kafka-mock-broker-dump", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (!rk) {
    fprintf(stderr, "kafka_mock_broker: rd_kafka_new: %s\n", err);
    exit(1);
  }
  return rk;
}

// The partition count of `topic`, or -1 (answer written).
int partitions_of(rd_kafka_t* rk, const std::string& topic) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, kTimeoutMs);
  rd_kafka_topic_destroy(rkt);
  if (err) {
    std::cout << "error metadata: " << rd_kafka_err2str(err) << std::endl;
    return -1;
  }
  int n = -1;
  if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) n = md->topics[0].partition_cnt;
  else if (md->topic_cnt == 1) n = 0;  // unknown topic: nothing stored
  rd_kafka_metadata_destroy(md);
  return n;
}

void json_string(std::ostream& out, const char* p, size_t n) {
  out << '"';
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(p[i]);
    if (c == '"' || c == '\\') {
      out << '\\' << c;
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\u%04x", c);
      out << buf;
    } else {
      out << c;
    }
  }
  out << '"';
}

// High watermarks per partition, or false (answer written).
bool watermarks(rd_kafka_t* rk, const std::string& topic, std::vector<int64_t>* high) {
  int n = partitions_of(rk, topic);
  if (n < 0) return false;
  for (int p = 0; p < n; ++p) {
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &lo, &hi, kTimeoutMs);
    if (err) {
      std::cout << "error watermarks: " << rd_kafka_err2str(err) << std::endl;
      return false;
    }
    high->push_back(hi);
  }
  return true;
}

void dump(const std::string& bootstraps, rd_kafka_t* meta, const std::string& topic) {
  std::vector<int64_t> high;
  if (!watermarks(meta, topic, &high)) return;
  rd_kafka_t* c = new_client(RD_KAFKA_CONSUMER, bootstraps);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(static_cast<int>(high.size()));
  int want = 0;
  for (size_t p = 0; p < high.size(); ++p) {
    if (high[p] == 0) continue;
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), static_cast<int32_t>(p))->offset = RD_KAFKA_OFFSET_BEGINNING;
    ++want;
  }
  rd_kafka_assign(c, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  int eofs = 0;
  while (eofs < want) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(c, kTimeoutMs);
    if (!m) {
      std::cout << "error no records within " << kTimeoutMs << " ms" << std::endl;
      break;
    }
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (m->offset >= high[m->partition]) ++eofs;
    } else if (m->err) {
      std::cout << "error consume: " << rd_kafka_message_errstr(m) << std::endl;
      rd_kafka_message_destroy(m);
      break;
    } else if (m->offset < high[m->partition]) {
      std::cout << "{\"partition\":" << m->partition << ",\"offset\":" << m->offset << ",\"key\":";
      if (m->key) json_string(std::cout, static_cast<const char*>(m->key), m->key_len);
      else std::cout << "null";
      std::cout << ",\"value\":";
      json_string(std::cout, static_cast<const char*>(m->payload), m->len);
      std::cout << "}\n";
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  std::cout << "ok" << std::endl;
}

}  // namespace

int main() {
  // The mock cluster lives in a client handle of its own.
  rd_kafka_t* host = new_client(RD_KAFKA_PRODUCER, "");
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(host, kBrokers);
  if (!mc) {
    fprintf(stderr, "kafka_mock_broker: cannot start the mock cluster\n");
    return 1;
  }
  std::string bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
  // A client for metadata and watermark queries.
  rd_kafka_t* meta = new_client(RD_KAFKA_PRODUCER, bootstraps);
  std::cout << "bootstraps " << bootstraps << std::endl;

  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd, topic;
    in >> cmd;
    if (cmd == "quit") break;
    if (cmd == "count") {
      in >> topic;
      std::vector<int64_t> high;
      if (!watermarks(meta, topic, &high)) continue;
      int64_t total = 0;
      for (int64_t h : high) total += h;
      std::cout << "count " << total << "\nok" << std::endl;
    } else if (cmd == "dump") {
      in >> topic;
      dump(bootstraps, meta, topic);
    } else if (cmd == "create") {
      int parts = 0;
      in >> topic >> parts;
      rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, topic.c_str(), parts, 1);
      if (err) std::cout << "error " << rd_kafka_err2str(err) << std::endl;
      else std::cout << "ok" << std::endl;
    } else if (cmd == "broker-down" || cmd == "broker-up") {
      int id = 0;
      in >> id;
      rd_kafka_resp_err_t err = cmd == "broker-down" ? rd_kafka_mock_broker_set_down(mc, id)
                                                     : rd_kafka_mock_broker_set_up(mc, id);
      if (err) std::cout << "error " << rd_kafka_err2str(err) << std::endl;
      else std::cout << "ok" << std::endl;
    } else if (cmd == "produce-errors") {
      int n = 0, err = 0;
      in >> n >> err;
      std::vector<rd_kafka_resp_err_t> errs(static_cast<size_t>(n), static_cast<rd_kafka_resp_err_t>(err));
      rd_kafka_mock_push_request_errors_array(mc, 0 /* Produce */, errs.size(), errs.data());
      std::cout << "ok" << std::endl;
    } else if (cmd == "topic-error") {
      int err = 0;
      in >> topic >> err;
      rd_kafka_mock_topic_set_error(mc, topic.c_str(), static_cast<rd_kafka_resp_err_t>(err));
      std::cout << "ok" << std::endl;
    } else {
      std::cout << "error unknown command '" << cmd << "'" << std::endl;
    }
  }
  rd_kafka_destroy(meta);
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(host);
  return 0;
}
