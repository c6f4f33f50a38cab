// The optional trained zstd dictionary of the ferry protocol
// (compression-dictionary() on both ends, docs/protocol.md): loading and
// checking one, the config option, and training one from sample logs
// (`logferry ferry-dictionary train`).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

typedef struct ZSTD_CDict_s ZSTD_CDict;
typedef struct ZSTD_DDict_s ZSTD_DDict;

namespace logferry {
class OptionReader;
}

namespace logferry::ferry {

// A trained zstd dictionary (compression-dictionary()), loaded once per
// config and shared by every connection of it: the digested forms zstd
// starts a stream with are made once (per level for compression) and are
// read-only, so any thread may use them.
class Dictionary {
 public:
  // Reads and checks a dictionary file; null and *error (what is wrong and
  // how to get a good one) when it cannot.
  static std::shared_ptr<const Dictionary> load(const std::string& path, std::string* error);
  // From bytes in memory (tests); null when they are not a zstd dictionary.
  static std::shared_ptr<const Dictionary> from_bytes(std::string bytes, std::string* error);
  ~Dictionary();
  Dictionary(const Dictionary&) = delete;
  Dictionary& operator=(const Dictionary&) = delete;

  // The id HELLO offers (ZDICT_getDictID, never 0).
  uint32_t id() const { return id_; }
  size_t size() const { return bytes_.size(); }
  const ZSTD_CDict* for_compression(int level) const;
  const ZSTD_DDict* for_decompression() const { return ddict_; }

 private:
  Dictionary() = default;
  std::string bytes_;
  uint32_t id_ = 0;
  ZSTD_DDict* ddict_ = nullptr;
  mutable std::mutex mu_;
  mutable std::map<int, ZSTD_CDict*> cdicts_;  // by level, made on first use
};

struct Hello;
struct Welcome;

// The handshake's decision, the same at both ends.  The receiver accepts
// zstd when it takes compression, the split layout with zstd (it only
// helps compression), and the dictionary only when the sender offers the
// id of the receiver's own (else both go without it).
uint32_t welcome_features(const Hello& hello, bool compress, const Dictionary* dict);
// The sender's reading of WELCOME: the dictionary its stream starts with
// (null: none).
const Dictionary* agreed_dictionary(const Welcome& welcome, bool compress, const Dictionary* dict);
// HELLO's features and dict_id for what the sender would use.
void offer(Hello* hello, bool compress, const Dictionary* dict);

// compression-dictionary("PATH"): loads the dictionary into *out; false
// (a config error at the option, with a hint) when it cannot.
bool read_compression_dictionary(OptionReader& r, std::shared_ptr<const Dictionary>* out);

// Trains a dictionary of about `size` bytes from samples (each one encoded
// message, as a BATCH body holds them); empty and *error when zstd cannot
// (too few or too small samples).
std::string train_dictionary(const std::vector<std::string>& samples, size_t size, std::string* error);

}  // namespace logferry::ferry
