// Unit tests for the ferry protocol's wire format (src/relay/ferry_codec.*).
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "relay/ferry_codec.h"
#include "relay/ferry_dictionary.h"

using namespace logferry;
using namespace logferry::ferry;

namespace {

// A message using every part of the encoding.
void fill_full(LogMessage& m, int i) {
  m.clear();
  m.pri = static_cast<uint16_t>(i % 192);
  m.flags = kFlagRfc5424 | kFlagTruncated;
  m.stamp = Timestamp{1710151200 + i, 123456789, -18000, 9};
  m.received = Timestamp{-86400 * 365, 5, 3600 + 1800, 3};
  m.set(Field::kHost, "web01.example.com");
  m.set(Field::kHostFrom, "relay");
  m.set(Field::kSourceIp, "2001:db8::1");
  m.set(Field::kProgram, "nginx");
  m.set(Field::kPid, "4242");
  m.set(Field::kMsgId, "ID47");
  m.set(Field::kMessage, std::string("line ") + std::to_string(i) + std::string("\0with nul\n\xff", 11));
  m.set_value("user.key", "value");
  m.set_value(".SDATA.meta.sequenceId", "17");
  m.set_value("empty", "");
  m.begin_sd_element(m.store("exampleSDID@32473"));
  m.add_sd_param(m.store("iut"), m.store("3"));
  m.add_sd_param(m.store("eventSource"), m.store("Application \"x\""));
  m.begin_sd_element(m.store("noparams@1"));
  m.add_tag("t1");
  m.add_tag(".source.s_app");
}

void check_same(const LogMessage& a, const LogMessage& b) {
  CHECK(a.pri == b.pri);
  CHECK(a.flags == b.flags);
  CHECK(a.stamp == b.stamp);
  CHECK(a.received == b.received);
  for (int f = 0; f < static_cast<int>(Field::kCount); ++f)
    CHECK(a.get(static_cast<Field>(f)) == b.get(static_cast<Field>(f)));
  REQUIRE(a.values().size() == b.values().size());
  for (size_t i = 0; i < a.values().size(); ++i) {
    CHECK(a.view(a.values()[i].name) == b.view(b.values()[i].name));
    CHECK(a.view(a.values()[i].value) == b.view(b.values()[i].value));
  }
  REQUIRE(a.sd_elements().size() == b.sd_elements().size());
  for (size_t i = 0; i < a.sd_elements().size(); ++i) {
    const auto& ea = a.sd_elements()[i];
    const auto& eb = b.sd_elements()[i];
    CHECK(a.view(ea.id) == b.view(eb.id));
    REQUIRE(ea.count == eb.count);
    for (uint32_t k = 0; k < ea.count; ++k) {
      CHECK(a.view(a.sd_params()[ea.first + k].name) == b.view(b.sd_params()[eb.first + k].name));
      CHECK(a.view(a.sd_params()[ea.first + k].value) == b.view(b.sd_params()[eb.first + k].value));
    }
  }
  REQUIRE(a.tags().size() == b.tags().size());
  for (size_t i = 0; i < a.tags().size(); ++i) CHECK(a.view(a.tags()[i]) == b.view(b.tags()[i]));
}

// A batch body, as the ferry() destination encodes it (with `text_at`,
// noting where the texts start, as it does too).
std::string encode_all(const MessageBatch& batch, std::vector<uint32_t>* text_at = nullptr) {
  MessageEncoder enc;
  StampBase base;
  std::string out;
  for (size_t i = 0; i < batch.size(); ++i) enc.append(batch[i], &base, &out, text_at);
  return out;
}

// Encodes `in` as a batch body and checks it decodes to the same messages.
void check_batch_round_trip(const MessageBatch& in) {
  std::string body = encode_all(in);
  MessageBatch out;
  std::string err;
  REQUIRE_MESSAGE(decode_messages(body, static_cast<uint32_t>(in.size()), &out, &err), err);
  REQUIRE(out.size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) check_same(in[i], out[i]);
}

// The payload of the only frame in `bytes`.
std::string_view only_payload(const std::string& bytes, FrameType type) {
  REQUIRE(bytes.size() >= kHeaderSize);
  FrameHeader h = decode_header(reinterpret_cast<const uint8_t*>(bytes.data()));
  CHECK(h.type == static_cast<uint8_t>(type));
  REQUIRE(h.length == bytes.size() - kHeaderSize);
  return std::string_view(bytes).substr(kHeaderSize);
}

}  // namespace

TEST_CASE("ferry varints and zigzag") {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128}, uint64_t{300}, uint64_t{1} << 35,
                     ~uint64_t{0}}) {
    std::string s;
    put_varint(&s, v);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(s.data());
    uint64_t got = 1;
    REQUIRE(get_varint(&p, p + s.size(), &got));
    CHECK(got == v);
    // Every shorter prefix is truncated.
    for (size_t n = 0; n < s.size(); ++n) {
      const uint8_t* q = reinterpret_cast<const uint8_t*>(s.data());
      CHECK_FALSE(get_varint(&q, q + n, &got));
    }
  }
  CHECK(std::string(10, '\xff').size() == 10);
  std::string too_long(10, '\x80');
  too_long += '\x01';
  const uint8_t* p = reinterpret_cast<const uint8_t*>(too_long.data());
  uint64_t v;
  CHECK_FALSE(get_varint(&p, p + too_long.size(), &v));
  std::string above = std::string(9, '\xff') + '\x02';  // 2^64 and more
  p = reinterpret_cast<const uint8_t*>(above.data());
  CHECK_FALSE(get_varint(&p, p + above.size(), &v));
  for (int64_t x : {int64_t{0}, int64_t{-1}, int64_t{1}, int64_t{-86400}, INT64_MIN, INT64_MAX})
    CHECK(unzigzag(zigzag(x)) == x);
  CHECK(zigzag(-1) == 1);
  CHECK(zigzag(1) == 2);
}

TEST_CASE("ferry handshake and control frames round trip") {
  std::string out;
  Hello h;
  h.min_version = 1;
  h.max_version = 3;
  for (int i = 0; i < 16; ++i) h.node_id[i] = static_cast<uint8_t>(i * 7);
  h.features = kFeatureZstd;
  h.dict_id = 99;
  h.name = "client01";
  encode_hello(&out, h);
  Hello h2;
  REQUIRE(decode_hello(only_payload(out, FrameType::kHello), &h2));
  CHECK(h2.min_version == 1);
  CHECK(h2.max_version == 3);
  CHECK(std::memcmp(h2.node_id, h.node_id, 16) == 0);
  CHECK(h2.features == kFeatureZstd);
  CHECK(h2.dict_id == 99);
  CHECK(h2.name == "client01");
  // Trailing bytes (a later version's fields) are ignored; short is an error.
  std::string longer(only_payload(out, FrameType::kHello));
  CHECK(decode_hello(longer + "future", &h2));
  for (size_t n = 0; n < longer.size(); ++n) CHECK_FALSE(decode_hello(std::string_view(longer).substr(0, n), &h2));
  std::string bad_magic = longer;
  bad_magic[0] = 'X';
  CHECK_FALSE(decode_hello(bad_magic, &h2));

  out.clear();
  Welcome w;
  w.window = 5;
  w.max_batch_bytes = 1000;
  w.features = kFeatureZstd;
  encode_welcome(&out, w);
  Welcome w2;
  REQUIRE(decode_welcome(only_payload(out, FrameType::kWelcome), &w2));
  CHECK(w2.window == 5);
  CHECK(w2.max_batch_bytes == 1000);
  CHECK(w2.max_frame_bytes == kDefaultMaxFrameBytes);
  CHECK(w2.features == kFeatureZstd);
  out.clear();
  w.window = 0;  // would stall the sender
  encode_welcome(&out, w);
  CHECK_FALSE(decode_welcome(only_payload(out, FrameType::kWelcome), &w2));

  out.clear();
  StreamOpen so;
  so.stream = 3;
  so.origin[15] = 1;
  so.source = "s_app";
  so.host = "web01";
  encode_stream_open(&out, so);
  StreamOpen so2;
  REQUIRE(decode_stream_open(only_payload(out, FrameType::kStreamOpen), &so2));
  CHECK(so2.stream == 3);
  CHECK(so2.origin[15] == 1);
  CHECK(so2.source == "s_app");
  CHECK(so2.host == "web01");

  out.clear();
  encode_stream_state(&out, StreamState{3, 0x1234567890ull, 0x1234567899ull, 0x12345678a9ull});
  StreamState ss;
  REQUIRE(decode_stream_state(only_payload(out, FrameType::kStreamState), &ss));
  CHECK(ss.stream == 3);
  CHECK(ss.hwm == 0x1234567890ull);
  CHECK(ss.received == 0x1234567899ull);
  CHECK(ss.fresh_after == 0x12345678a9ull);
  // Without the appended `fresh_after`: received.
  REQUIRE(decode_stream_state(only_payload(out, FrameType::kStreamState).substr(0, 20), &ss));
  CHECK(ss.fresh_after == 0x1234567899ull);
  // Without the appended `received` (the draft's payload): hwm.
  REQUIRE(decode_stream_state(only_payload(out, FrameType::kStreamState).substr(0, 12), &ss));
  CHECK(ss.received == 0x1234567890ull);
  CHECK(ss.fresh_after == 0x1234567890ull);
  // fresh_after below received is a protocol error.
  std::string bad = std::string(only_payload(out, FrameType::kStreamState).substr(0, 20)) + std::string(8, '\0');
  CHECK_FALSE(decode_stream_state(bad, &ss));

  out.clear();
  encode_ack(&out, Ack{7, ~uint64_t{0}});
  Ack a;
  REQUIRE(decode_ack(only_payload(out, FrameType::kAck), &a));
  CHECK(a.stream == 7);
  CHECK(a.seq == ~uint64_t{0});

  out.clear();
  encode_ping(&out, FrameType::kPong, 0xABCDEF);
  uint64_t token = 0;
  REQUIRE(decode_ping(only_payload(out, FrameType::kPong), &token));
  CHECK(token == 0xABCDEF);

  out.clear();
  encode_error(&out, kErrLimit, "too big");
  ErrorFrame e;
  REQUIRE(decode_error(only_payload(out, FrameType::kError), &e));
  CHECK(e.code == kErrLimit);
  CHECK(e.text == "too big");

  out.clear();
  encode_batch(&out, BatchHeader{2, 9, 4, 100}, kBatchFlagZstd, "body");
  BatchHeader b;
  std::string_view body;
  FrameHeader fh = decode_header(reinterpret_cast<const uint8_t*>(out.data()));
  CHECK(fh.flags == kBatchFlagZstd);
  REQUIRE(decode_batch_header(only_payload(out, FrameType::kBatch), &b, &body));
  CHECK(b.stream == 2);
  CHECK(b.seq == 9);
  CHECK(b.count == 4);
  CHECK(b.raw_len == 100);
  CHECK(body == "body");
  out.clear();
  encode_batch(&out, BatchHeader{2, 0, 4, 100}, 0, "");  // seq 0 does not exist
  CHECK_FALSE(decode_batch_header(only_payload(out, FrameType::kBatch), &b, &body));
}

TEST_CASE("ferry frame reader: split reads, limits") {
  std::string stream;
  encode_ack(&stream, Ack{1, 1});
  encode_ping(&stream, FrameType::kPing, 5);
  append_frame(&stream, static_cast<FrameType>(0x41), 0, "ext");
  encode_error(&stream, kErrShuttingDown, "bye");

  // Fed a byte at a time, the reader gives the same four frames.
  FrameReader r(1024);
  std::vector<std::pair<uint8_t, std::string>> got;
  for (char c : stream) {
    r.feed(std::string_view(&c, 1));
    FrameHeader h;
    std::string_view p;
    int n;
    while ((n = r.next(&h, &p)) == 1) got.emplace_back(h.type, std::string(p));
    REQUIRE(n == 0);
  }
  REQUIRE(got.size() == 4);
  CHECK(got[0].first == 0x06);
  CHECK(got[1].first == 0x07);
  CHECK(got[2].first == 0x41);
  CHECK(got[2].second == "ext");
  CHECK(got[3].first == 0x0F);
  CHECK(r.buffered() == 0);
  CHECK(is_extension_type(0x41));
  CHECK_FALSE(is_known_type(0x41));
  CHECK_FALSE(is_known_type(0x09));
  CHECK(is_known_type(0x0F));

  // A header announcing more than the limit is an error at once, before its
  // payload arrives.
  FrameReader small(16);
  std::string big;
  size_t at = begin_frame(&big, FrameType::kBatch, 0);
  big.append(17, 'x');
  finish_frame(&big, at);
  small.feed(std::string_view(big).substr(0, kHeaderSize));
  FrameHeader h;
  std::string_view p;
  CHECK(small.next(&h, &p) == -1);
  CHECK(small.error().find("max-frame-bytes") != std::string::npos);
  CHECK(small.next(&h, &p) == -1);  // stays failed
}

TEST_CASE("ferry messages: every field kind round trips, batches are reused") {
  MessageBatch in;
  for (int i = 0; i < 50; ++i) fill_full(in.add(), i);
  // A minimal message: nothing but defaults.
  in.add();
  std::string body = encode_all(in);

  MessageBatch out;
  std::string err;
  REQUIRE(decode_messages(body, static_cast<uint32_t>(in.size()), &out, &err));
  REQUIRE(out.size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) check_same(in[i], out[i]);
  CHECK(out[50].values().empty());
  CHECK(out[50].get(Field::kHost).empty());
  std::string_view v;
  REQUIRE(out[3].get_value(".SDATA.meta.sequenceId", &v));
  CHECK(v == "17");
  CHECK(out[3].has_tag(".source.s_app"));

  // Decoding again into the same batch gives the same (the messages are
  // reused, not appended to).
  REQUIRE(decode_messages(body, static_cast<uint32_t>(in.size()), &out, &err));
  REQUIRE(out.size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) check_same(in[i], out[i]);
}

TEST_CASE("ferry messages: truncated, garbage and inconsistent input is an error") {
  MessageBatch in;
  for (int i = 0; i < 3; ++i) fill_full(in.add(), i);
  std::string body = encode_all(in);
  MessageBatch out;
  std::string err;

  // Every truncation fails cleanly.
  for (size_t n = 0; n < body.size(); ++n) {
    CHECK_FALSE(decode_messages(std::string_view(body).substr(0, n), 3, &out, &err));
    CHECK(out.empty());
  }
  // Too few messages announced: the rest is extra bytes; too many: runs past.
  CHECK_FALSE(decode_messages(body, 2, &out, &err));
  CHECK(err.find("bytes after") != std::string::npos);
  CHECK_FALSE(decode_messages(body, 4, &out, &err));
  CHECK_FALSE(decode_messages(body, 0xFFFFFFFF, &out, &err));

  // An unknown field id, and MESSAGE in the list (it travels at the end).
  LogMessage one;
  one.set(Field::kProgram, "p");
  one.set(Field::kMessage, "x");
  MessageEncoder enc;
  std::string b1;
  enc.append(one, &b1);
  // len(1) pri(2) flags(4), stamp: form sec gmtoff (3), received "same" (1),
  // field count (1), then the PROGRAM field's id.
  const size_t id_at = 1 + 2 + 4 + 3 + 1 + 1;
  REQUIRE(b1[id_at] == kWireProgram);
  REQUIRE(decode_messages(b1, 1, &out, &err));
  CHECK(out[0].get(Field::kMessage) == "x");
  std::string bad = b1;
  bad[id_at] = 9;
  CHECK_FALSE(decode_messages(bad, 1, &out, &err));
  CHECK(err.find("unknown field") != std::string::npos);
  bad[id_at] = kWireMessage;
  CHECK_FALSE(decode_messages(bad, 1, &out, &err));
  CHECK(err.find("MESSAGE") != std::string::npos);

  // Out-of-range values.
  LogMessage m;
  m.pri = 192;
  std::string b2;
  enc.append(m, &b2);
  CHECK_FALSE(decode_messages(b2, 1, &out, &err));
  m.pri = 13;
  m.stamp = Timestamp{};
  m.stamp.sec = INT64_MAX;
  b2.clear();
  enc.append(m, &b2);
  CHECK_FALSE(decode_messages(b2, 1, &out, &err));
  m.stamp = Timestamp{};
  m.stamp.precision = 10;
  b2.clear();
  enc.append(m, &b2);
  CHECK_FALSE(decode_messages(b2, 1, &out, &err));

  // Bytes in the room before MESSAGE are a later version's fields: skipped.
  m.stamp = Timestamp{};
  m.set(Field::kProgram, "p");
  m.set(Field::kMessage, "hello");
  std::string inner;
  {
    std::string tmp;
    enc.append(m, &tmp);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(tmp.data());
    uint64_t len;
    REQUIRE(get_varint(&p, p + tmp.size(), &len));
    inner.assign(reinterpret_cast<const char*>(p), len);
  }
  REQUIRE(inner.ends_with(std::string("\0hello", 6)));
  inner.resize(inner.size() - 6);
  inner += std::string("\x03new") + "hello";
  std::string ext;
  put_varint(&ext, inner.size());
  ext += inner;
  REQUIRE(decode_messages(ext, 1, &out, &err));
  CHECK(out[0].get(Field::kProgram) == "p");
  CHECK(out[0].get(Field::kMessage) == "hello");
  // A room that runs past the message is an error.
  inner[inner.size() - 9] = 0x30;
  ext.clear();
  put_varint(&ext, inner.size());
  ext += inner;
  CHECK_FALSE(decode_messages(ext, 1, &out, &err));

  // Random garbage never crashes or succeeds with more messages than fit.
  std::mt19937 rng(42);
  for (int round = 0; round < 2000; ++round) {
    std::string g(rng() % 200, '\0');
    for (auto& c : g) c = static_cast<char>(rng());
    if (decode_messages(g, rng() % 8, &out, &err)) CHECK(out.size() * 16 <= g.size() + 16);
  }
  // Random byte flips of a valid body.
  for (int round = 0; round < 2000; ++round) {
    std::string g = body;
    g[rng() % g.size()] = static_cast<char>(rng());
    (void)decode_messages(g, 3, &out, &err);
  }
}

TEST_CASE("ferry messages: time stamps against the previous message, the digits present") {
  // Stamps that go back and forth, far apart, equal or not to received,
  // with and without fractions: every one comes back as it was.
  const Timestamp stamps[] = {
      {1796660000, 0, 3600, 0},            // a parsed stamp without fraction
      {1796660000, 0, 3600, 0},            // the same again
      {1796660001, 500000000, 3600, 3},    // .500: one digit sent
      {1796659990, 123456789, -18000, 9},  // earlier, all nine digits
      {-62135596800, 1, -86400, 9},        // year 1, and the last nanosecond digit
      {253402300799, 999999999, 86400, 6}, // year 9999: a delta of the whole range
      {0, 10, 0, 0},                       // precision 0 with nanoseconds (a clock's)
  };
  MessageBatch in;
  for (const auto& st : stamps) {
    LogMessage& m = in.add();
    m.stamp = st;
    m.received = st;
    m.set(Field::kMessage, "same");
    LogMessage& n = in.add();
    n.stamp = st;
    n.received = Timestamp{1796660005, 987654000, 7200, 0};
    n.set(Field::kMessage, "received later");
  }
  check_batch_round_trip(in);
  // Alone (a disk buffer's record), against nothing.
  std::string err;
  MessageEncoder enc;
  LogMessage back;
  for (size_t i = 0; i < in.size(); ++i) {
    std::string rec;
    enc.append(in[i], &rec);
    REQUIRE(decode_message(rec, &back, &err));
    check_same(in[i], back);
  }

  // The second of two messages with the same stamps (no fraction) costs
  // two bytes of stamps: sec delta 0 and received "the same".
  MessageBatch two;
  for (int i = 0; i < 2; ++i) {
    LogMessage& m = two.add();
    m.stamp = m.received = Timestamp{1796660000, 0, 0, 0};
  }
  std::string b2 = encode_all(two);
  // len pri(2) flags(4) form sec(5) gmtoff received, five empty counts;
  // then the same with a one-byte sec.
  CHECK(b2.size() == (1 + 6 + 1 + 5 + 1 + 1 + 5) + (1 + 6 + 1 + 1 + 1 + 1 + 5));
}

TEST_CASE("ferry messages: inconsistent time stamp encodings are an error") {
  // A message with only stamps; stamp bytes patched at offset 7 (after len,
  // pri, flags).
  auto decode_with = [](const std::string& stamps) {
    std::string inner(6, '\0');
    inner += stamps;
    inner += std::string("\0\0\0\0\0", 5);  // fields, values, sdata, tags, room
    std::string body;
    put_varint(&body, inner.size());
    body += inner;
    MessageBatch out;
    std::string err;
    return decode_messages(body, 1, &out, &err);
  };
  const std::string same("\xff", 1);
  CHECK(decode_with(std::string("\x00\x00\x00", 3) + same));       // 1970, received the same
  CHECK(decode_with(std::string("\x19\x00\x05\x00", 4) + same));   // .5, precision 9
  CHECK_FALSE(decode_with(std::string("\x19\x00\x0a\x00", 4) + same));  // frac 10 in one digit
  CHECK_FALSE(decode_with(std::string("\x29\x00\x0a\x00", 4) + same));  // trailing zero: .10
  CHECK_FALSE(decode_with(std::string("\xa9\x00\x01\x00", 4) + same));  // 10 digits
  CHECK_FALSE(decode_with(std::string("\x0a\x00\x00", 3) + same));       // precision 10
  CHECK_FALSE(decode_with(std::string("\x00\x00\x00", 3)));              // received missing
  CHECK_FALSE(decode_with(std::string("\x00\x00\x00\x0f\x00\x00", 6)));  // received form 0x0F: precision 15
  CHECK_FALSE(decode_with(std::string("\x00\x00\x00\xf0\x00\x00", 6)));  // digits 15 (not "the same")
  std::string far;
  put_varint(&far, zigzag(253402300800));  // one second past year 9999
  CHECK_FALSE(decode_with(std::string("\x00", 1) + far + std::string("\x00", 1) + same));
  std::string gmt;
  put_varint(&gmt, zigzag(86401));
  CHECK_FALSE(decode_with(std::string("\x00\x00", 2) + gmt + same));

  // Deltas that leave the range or overflow, in the second message.
  MessageBatch in;
  const Timestamp last{253402300799, 0, 0, 0};
  for (int i = 0; i < 2; ++i) {
    LogMessage& m = in.add();
    m.stamp = m.received = last;
  }
  std::string body = encode_all(in);
  MessageBatch out;
  std::string err;
  REQUIRE_MESSAGE(decode_messages(body, 2, &out, &err), err);
  // The second message's sec delta (0) at: its len, pri, flags, form.
  size_t second = 1 + static_cast<uint8_t>(body[0]);
  REQUIRE(body[second + 1 + 6 + 1] == 0);
  std::string bumped = body;
  bumped[second + 1 + 6 + 1] = 2;  // zigzag +1: one second past year 9999
  CHECK_FALSE(decode_messages(bumped, 2, &out, &err));
  CHECK(err.find("timestamp") != std::string::npos);
}

TEST_CASE("ferry compression: a stream of several batches, each decodable on arrival") {
  Compressor comp;
  Decompressor dec(1 << 20);
  MessageBatch in, out;
  std::string err;
  size_t raw_total = 0, wire_total = 0;
  for (int batch = 0; batch < 20; ++batch) {
    in.clear();
    for (int i = 0; i < 20; ++i) fill_full(in.add(), batch * 100 + i);
    std::string raw = encode_all(in);
    std::string wire;
    REQUIRE(comp.compress(raw, &wire, &err));
    raw_total += raw.size();
    wire_total += wire.size();
    std::string back;
    REQUIRE(dec.decompress(wire, static_cast<uint32_t>(raw.size()), &back, &err));
    CHECK(back == raw);
    REQUIRE(decode_messages(back, 20, &out, &err));
    check_same(in[7], out[7]);
  }
  // Later batches compress against earlier ones.
  CHECK(wire_total * 4 < raw_total);

  // An empty batch body is fine too.
  std::string wire;
  REQUIRE(comp.compress("", &wire, &err));
  std::string back;
  REQUIRE(dec.decompress(wire, 0, &back, &err));
  CHECK(back.empty());
}

TEST_CASE("ferry compression: bounds (no zip bombs), corrupt streams") {
  Compressor comp;
  std::string raw(1 << 20, 'a');  // compresses to almost nothing
  std::string wire;
  std::string err;
  REQUIRE(comp.compress(raw, &wire, &err));
  CHECK(wire.size() < 1000);

  {
    // raw_len above the limit: refused before decompressing.
    Decompressor dec(1000);
    std::string back;
    CHECK_FALSE(dec.decompress(wire, 1 << 20, &back, &err));
    CHECK(err.find("max-batch-bytes") != std::string::npos);
  }
  {
    // A raw_len that lies low: the output stops one byte past it.
    Decompressor dec(2 << 20);
    std::string back;
    CHECK_FALSE(dec.decompress(wire, 4096, &back, &err));
    CHECK(err.find("more than") != std::string::npos);
    CHECK(back.capacity() < 8192);
  }
  {
    // A raw_len that lies high.
    Decompressor dec(4 << 20);
    std::string back;
    CHECK_FALSE(dec.decompress(wire, (1 << 20) + 1, &back, &err));
  }
  {
    // Garbage.
    Decompressor dec(1 << 20);
    std::string back;
    CHECK_FALSE(dec.decompress("this is not zstd at all", 10, &back, &err));
  }
  {
    // A stream that is cut: the next batch's bytes do not decode.
    Compressor c2;
    Decompressor dec(1 << 20);
    std::string w1, w2, back;
    REQUIRE(c2.compress("first batch", &w1, &err));
    REQUIRE(c2.compress("second batch", &w2, &err));
    CHECK_FALSE(dec.decompress(w2, 12, &back, &err));
  }
  {
    // reset() starts both ends afresh (a new connection).
    Compressor c3;
    Decompressor dec(1 << 20);
    std::string w, back;
    REQUIRE(c3.compress("one", &w, &err));
    REQUIRE(dec.decompress(w, 3, &back, &err));
    c3.reset();
    dec.reset();
    w.clear();
    REQUIRE(c3.compress("two", &w, &err));
    REQUIRE(dec.decompress(w, 3, &back, &err));
    CHECK(back == "two");
  }
}

TEST_CASE("ferry message lengths of one, two and three bytes, encoded in place, decode back in order") {
  MessageBatch in, out;
  for (size_t size : {size_t{0}, size_t{5}, size_t{100}, size_t{300}, size_t{16000}, size_t{20000}, size_t{70000}}) {
    LogMessage& m = in.add();
    m.set(Field::kMessage, std::string(size, static_cast<char>('a' + size % 26)));
  }
  std::string body = "prefix";  // appended to, not replaced
  MessageEncoder enc;
  StampBase base;
  for (size_t i = 0; i < in.size(); ++i) enc.append(in[i], &base, &body);
  REQUIRE(body.starts_with("prefix"));
  std::string err;
  REQUIRE(decode_messages(std::string_view(body).substr(6), static_cast<uint32_t>(in.size()), &out, &err));
  REQUIRE(out.size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) check_same(in[i], out[i]);
}

TEST_CASE("ferry compression: a batch whose compressed form is larger than one output chunk") {
  Compressor comp;
  Decompressor dec(4 << 20);
  std::mt19937 rng(7);
  std::string raw(1 << 20, '\0');
  for (char& c : raw) c = static_cast<char>(rng());  // incompressible: about 1 MiB out
  std::string wire = "head";
  std::string err;
  REQUIRE(comp.compress(raw, &wire, &err));
  REQUIRE(wire.starts_with("head"));
  CHECK(wire.size() > raw.size() / 2);
  std::string back;
  REQUIRE(dec.decompress(std::string_view(wire).substr(4), static_cast<uint32_t>(raw.size()), &back, &err));
  CHECK(back == raw);
}

namespace {

// A dictionary trained on messages like fill_full()'s (other numbers than
// the ones the tests compress).
std::shared_ptr<const Dictionary> trained(size_t size, int seed) {
  std::vector<std::string> samples;
  MessageEncoder enc;
  StampBase base;
  LogMessage m;
  std::mt19937 rng(static_cast<unsigned>(seed));
  for (int i = 0; i < 2000; ++i) {
    fill_full(m, static_cast<int>(rng() % 100000) + 1000000);
    std::string s;
    enc.append(m, &base, &s);
    samples.push_back(s);
  }
  std::string err;
  std::string bytes = train_dictionary(samples, size, &err);
  REQUIRE_MESSAGE(!bytes.empty(), err);
  auto d = Dictionary::from_bytes(bytes, &err);
  REQUIRE_MESSAGE(d, err);
  return d;
}

// One batch through a sender and a receiver set up as the handshake
// decided; the compressed size, or 0 when it did not come back whole.
size_t through(const Dictionary* sender, const Dictionary* receiver, const std::string& raw) {
  Hello h;
  offer(&h, true, sender);
  Welcome w;
  w.features = welcome_features(h, true, receiver);
  Compressor c;
  c.use_dictionary(agreed_dictionary(w, true, sender));
  Decompressor d(1 << 20);
  d.use_dictionary(w.features & kFeatureZstdDict ? receiver : nullptr);
  std::string wire, back, err;
  REQUIRE(c.compress(raw, &wire, &err));
  if (!d.decompress(wire, static_cast<uint32_t>(raw.size()), &back, &err) || back != raw) return 0;
  return wire.size();
}

}  // namespace

TEST_CASE("ferry dictionary: negotiation, and the first batch compresses better with it") {
  auto dict = trained(8192, 1);
  auto other = trained(4096, 2);
  REQUIRE(dict->id() != 0);
  REQUIRE(dict->id() != other->id());

  // HELLO offers the id; the receiver accepts only its own.
  Hello h;
  offer(&h, true, dict.get());
  constexpr uint32_t kZstd = kFeatureZstd | kFeatureSplit;  // the split layout goes with zstd
  CHECK(h.features == (kZstd | kFeatureZstdDict));
  CHECK(h.dict_id == dict->id());
  CHECK(welcome_features(h, true, dict.get()) == (kZstd | kFeatureZstdDict));
  CHECK(welcome_features(h, true, other.get()) == kZstd);   // mismatched ids
  CHECK(welcome_features(h, true, nullptr) == kZstd);       // receiver without one
  CHECK(welcome_features(h, false, dict.get()) == 0);              // receiver takes no zstd
  offer(&h, false, dict.get());
  CHECK(h.features == 0);
  CHECK(h.dict_id == 0);
  offer(&h, true, nullptr);
  CHECK(welcome_features(h, true, dict.get()) == kZstd);    // sender without one
  Welcome w;
  w.features = kFeatureZstd;
  CHECK(agreed_dictionary(w, true, dict.get()) == nullptr);
  w.features = kFeatureZstd | kFeatureZstdDict;
  CHECK(agreed_dictionary(w, true, dict.get()) == dict.get());
  CHECK(agreed_dictionary(w, false, dict.get()) == nullptr);

  // Data: every combination arrives whole; with the same dictionary at both
  // ends a first small batch is much smaller.
  MessageBatch in;
  for (int i = 0; i < 4; ++i) fill_full(in.add(), i);
  std::string raw = encode_all(in);
  size_t with = through(dict.get(), dict.get(), raw);
  size_t without = through(nullptr, nullptr, raw);
  CHECK(through(dict.get(), other.get(), raw) == without);
  CHECK(through(dict.get(), nullptr, raw) == without);
  CHECK(through(nullptr, dict.get(), raw) == without);
  REQUIRE(with > 0);
  CHECK(with * 2 < without);

  // The stream keeps its dictionary across reset() (a new connection), and
  // use_dictionary(nullptr) drops it.
  Compressor c;
  c.use_dictionary(dict.get());
  std::string w1, w2, err;
  REQUIRE(c.compress(raw, &w1, &err));
  c.reset();
  REQUIRE(c.compress(raw, &w2, &err));
  CHECK(w1 == w2);
  c.reset();
  c.use_dictionary(nullptr);
  std::string w3;
  REQUIRE(c.compress(raw, &w3, &err));
  CHECK(w3.size() == without);
  // A receiver without the dictionary cannot read a stream that used it.
  Decompressor d(1 << 20);
  std::string back;
  CHECK_FALSE(d.decompress(w1, static_cast<uint32_t>(raw.size()), &back, &err));
}

TEST_CASE("ferry dictionary: files that are not one are refused with a reason") {
  std::string err;
  CHECK_FALSE(Dictionary::from_bytes("just some text, no magic", &err));
  CHECK(err.find("not a trained zstd dictionary") != std::string::npos);
  CHECK_FALSE(Dictionary::from_bytes("", &err));
  CHECK_FALSE(Dictionary::load("/nonexistent/dir/ferry.dict", &err));
  CHECK(err.find("/nonexistent/dir/ferry.dict") != std::string::npos);
  // Something endless is refused after the most a dictionary may hold.
  CHECK_FALSE(Dictionary::load("/dev/zero", &err));
  CHECK(err.find("larger than") != std::string::npos);
  // Too few samples to train on.
  CHECK(train_dictionary({"a", "b"}, 4096, &err).empty());
  CHECK(err.find("more sample") != std::string::npos);
}

namespace {

// Access-log lines of a seeded generator: what the split layout is for.
void fill_access(MessageBatch* batch, int n, uint32_t seed) {
  std::mt19937 r(seed);
  const char* paths[] = {"/", "/api/v1/cart", "/login", "/static/app.js", "/images/p/", "/search?q="};
  const char* agents[] = {"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "curl/7.88.1",
                          "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"};
  for (int i = 0; i < n; ++i) {
    LogMessage& m = batch->add();
    m.clear();
    m.pri = 13;
    m.stamp = m.received = Timestamp{1796660000 + i / 50, 418842661, 0, 6};
    m.set(Field::kHost, "web-01");
    m.set(Field::kProgram, "nginx");
    m.set_value("FILE_NAME", "/var/log/nginx/access.log");
    m.set(Field::kMessage, std::to_string(r() % 256) + "." + std::to_string(r() % 256) + ".0.7 - - [07/Dec/2026] \"GET " +
                               paths[r() % 6] + std::to_string(r() % 100000) + " HTTP/1.1\" 200 " +
                               std::to_string(r() % 70000) + " \"-\" \"" + agents[r() % 3] + "\"");
  }
}

}  // namespace

TEST_CASE("ferry split layout: the metadata, then the texts ended by newlines; decodes to the same messages") {
  MessageBatch in;
  fill_access(&in, 3, 1);
  in[1].set(Field::kMessage, "");  // an empty text: a newline alone
  std::vector<uint32_t> at;
  std::string rows = encode_all(in, &at);
  SplitLayout split;
  std::string body = "keep";  // convert() appends
  REQUIRE(split.convert(rows, at, &body));

  // Byte by byte: the row encoding of each message without its length and
  // its text, all of them, then the texts.
  std::string metas, texts;
  MessageEncoder enc;
  StampBase base;
  for (size_t i = 0; i < 3; ++i) {
    std::string one;
    enc.append(in[i], &base, &one);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(one.data());
    uint64_t len = 0;
    REQUIRE(get_varint(&p, p + one.size(), &len));
    std::string_view enc_i(reinterpret_cast<const char*>(p), len);
    std::string_view text = in[i].get(Field::kMessage);
    metas.append(enc_i.substr(0, enc_i.size() - text.size()));
    texts.append(text);
    texts += '\n';
  }
  std::string expect = "keep";
  uint32_t n = static_cast<uint32_t>(metas.size());
  for (int shift = 24; shift >= 0; shift -= 8) expect += static_cast<char>(n >> shift);  // u32, big-endian
  CHECK(body == expect + metas);
  CHECK(split.texts() == texts);

  MessageBatch out;
  std::string err;
  std::string b = body.substr(4) + std::string(split.texts());
  REQUIRE_MESSAGE(decode_messages(b, 3, &out, &err, Layout::kSplit), err);
  REQUIRE(out.size() == 3);
  for (size_t i = 0; i < 3; ++i) check_same(in[i], out[i]);

  // Every kind of field goes the same way, and the buffers are reused.
  MessageBatch full;
  for (int i = 0; i < 20; ++i) {
    fill_full(full.add(), i);
    full[i].set(Field::kMessage, "text " + std::to_string(i));
  }
  at.clear();
  rows = encode_all(full, &at);
  body.clear();
  REQUIRE(split.convert(rows, at, &body));
  body += split.texts();
  REQUIRE_MESSAGE(decode_messages(body, 20, &out, &err, Layout::kSplit), err);
  REQUIRE(out.size() == 20);
  for (size_t i = 0; i < 20; ++i) check_same(full[i], out[i]);

  // A text with a newline cannot go split: the batch stays in rows.
  fill_full(full.add(), 21);  // its MESSAGE holds "\n"
  at.clear();
  rows = encode_all(full, &at);
  body = "x";
  CHECK_FALSE(split.convert(rows, at, &body));
  CHECK(body == "x");
  // Offsets that do not match the rows (not the encoder's) are refused too.
  at.pop_back();
  CHECK_FALSE(split.convert(rows, at, &body));
  at.push_back(0);
  CHECK_FALSE(split.convert(rows, at, &body));
  CHECK(body == "x");
}

TEST_CASE("ferry split layout: truncated, garbage and inconsistent bodies are an error") {
  MessageBatch in;
  fill_access(&in, 4, 2);
  std::string body;
  SplitLayout split;
  std::vector<uint32_t> at;
  std::string rows = encode_all(in, &at);
  REQUIRE(split.convert(rows, at, &body));
  body += split.texts();
  MessageBatch out;
  std::string err;
  for (size_t n = 0; n < body.size(); ++n) {
    CHECK_FALSE(decode_messages(std::string_view(body).substr(0, n), 4, &out, &err, Layout::kSplit));
    CHECK(out.empty());
  }
  CHECK_FALSE(decode_messages(body, 3, &out, &err, Layout::kSplit));  // metadata and a text left over
  CHECK(err.find("bytes after") != std::string::npos);
  CHECK_FALSE(decode_messages(body, 5, &out, &err, Layout::kSplit));
  CHECK_FALSE(decode_messages(body, 0xFFFFFFFF, &out, &err, Layout::kSplit));
  CHECK_FALSE(decode_messages(body + "more\n", 4, &out, &err, Layout::kSplit));  // a fifth text
  // metas_len past the body, and a body of the other layout.
  CHECK_FALSE(decode_messages(std::string("\0\0\x10\0ab\n", 7), 1, &out, &err, Layout::kSplit));
  CHECK_FALSE(decode_messages(encode_all(in), 4, &out, &err, Layout::kSplit));
  CHECK_FALSE(decode_messages(body, 4, &out, &err, Layout::kRows));
  // The newline of the last text missing: one text short.
  CHECK_FALSE(decode_messages(std::string_view(body).substr(0, body.size() - 1), 4, &out, &err, Layout::kSplit));
  CHECK(out.empty());
  REQUIRE(decode_messages(body, 4, &out, &err, Layout::kSplit));
  CHECK(out.size() == 4);
}

TEST_CASE("ferry split layout: agreed with zstd only; compresses access lines smaller than rows") {
  Hello h;
  offer(&h, true, nullptr);
  CHECK(h.features == (kFeatureZstd | kFeatureSplit));
  CHECK(welcome_features(h, true, nullptr) == (kFeatureZstd | kFeatureSplit));
  CHECK(welcome_features(h, false, nullptr) == 0);
  h.features = kFeatureZstd;  // a sender that does not know it
  CHECK(welcome_features(h, true, nullptr) == kFeatureZstd);
  offer(&h, false, nullptr);
  CHECK(h.features == 0);

  // A connection's stream of 8 batches of 256 lines each way: the split
  // layout saves what the lengths between the texts cost (docs/performance.md).
  Compressor rows_c(1), split_c(1);
  Decompressor split_d(1 << 20);
  SplitLayout split;
  size_t rows_bytes = 0, split_bytes = 0;
  for (uint32_t k = 0; k < 8; ++k) {
    MessageBatch in;
    fill_access(&in, 256, 10 + k);
    std::vector<uint32_t> at;
    std::string rows = encode_all(in, &at), body, wire, err, back;
    REQUIRE(split.convert(rows, at, &body));
    REQUIRE(rows_c.compress(rows, &wire, &err));
    rows_bytes += wire.size();
    wire.clear();
    // In two pieces, as the ferry() destination does: one batch.
    REQUIRE(split_c.compress(body, &wire, &err, split.texts()));
    split_bytes += wire.size();
    size_t raw_len = body.size() + split.texts().size();
    REQUIRE(split_d.decompress(wire, static_cast<uint32_t>(raw_len), &back, &err));
    CHECK(back == body + std::string(split.texts()));
  }
  MESSAGE("rows ", rows_bytes, " B, split ", split_bytes, " B");
  CHECK(split_bytes * 100 < rows_bytes * 90);
}
