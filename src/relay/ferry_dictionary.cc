#include "relay/ferry_dictionary.h"

#include <zdict.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/option_reader.h"
#include "relay/ferry_codec.h"

namespace logferry::ferry {

// Dictionaries larger than this are refused: each is held in memory,
// digested once per compression level.
constexpr size_t kMaxDictionaryBytes = 16u << 20;

std::shared_ptr<const Dictionary> Dictionary::load(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read the dictionary " + path + ": " + strerror(errno);
    return nullptr;
  }
  // At most one byte more than a dictionary may have: a path to something
  // endless (/dev/zero, a FIFO that keeps giving) is refused, not read on.
  std::string bytes;
  char chunk[65536];
  while (bytes.size() <= kMaxDictionaryBytes && in.read(chunk, sizeof(chunk)).gcount() > 0)
    bytes.append(chunk, static_cast<size_t>(in.gcount()));
  std::string why;
  auto d = from_bytes(std::move(bytes), &why);
  if (!d) *error = path + " " + why;
  return d;
}

std::shared_ptr<const Dictionary> Dictionary::from_bytes(std::string bytes, std::string* error) {
  if (bytes.size() > kMaxDictionaryBytes) {
    *error = "is larger than " + std::to_string(kMaxDictionaryBytes >> 20) + " MiB";
    return nullptr;
  }
  uint32_t id = ZDICT_getDictID(bytes.data(), bytes.size());
  if (id == 0) {
    *error = "is not a trained zstd dictionary (it has no dictionary id)";
    return nullptr;
  }
  std::shared_ptr<Dictionary> d(new Dictionary());
  d->bytes_ = std::move(bytes);
  d->id_ = id;
  d->ddict_ = ZSTD_createDDict(d->bytes_.data(), d->bytes_.size());
  if (!d->ddict_) {
    *error = "is not a usable zstd dictionary (zstd cannot load it)";
    return nullptr;
  }
  return d;
}

Dictionary::~Dictionary() {
  ZSTD_freeDDict(ddict_);
  for (auto& [level, cdict] : cdicts_) ZSTD_freeCDict(cdict);
}

const ZSTD_CDict* Dictionary::for_compression(int level) const {
  std::lock_guard<std::mutex> lock(mu_);
  ZSTD_CDict*& c = cdicts_[level];
  if (!c) c = ZSTD_createCDict(bytes_.data(), bytes_.size(), level);
  return c;
}

void offer(Hello* hello, bool compress, const Dictionary* dict) {
  hello->features = compress ? kFeatureZstd | kFeatureSplit : 0;
  hello->dict_id = 0;
  if (compress && dict) {
    hello->features |= kFeatureZstdDict;
    hello->dict_id = dict->id();
  }
}

uint32_t welcome_features(const Hello& hello, bool compress, const Dictionary* dict) {
  uint32_t f = compress ? (hello.features & kFeatureZstd) : 0;
  if (f & kFeatureZstd) f |= hello.features & kFeatureSplit;
  if ((f & kFeatureZstd) && (hello.features & kFeatureZstdDict) && dict && hello.dict_id == dict->id())
    f |= kFeatureZstdDict;
  return f;
}

const Dictionary* agreed_dictionary(const Welcome& welcome, bool compress, const Dictionary* dict) {
  bool zstd = compress && (welcome.features & kFeatureZstd);
  return zstd && (welcome.features & kFeatureZstdDict) ? dict : nullptr;
}

bool read_compression_dictionary(OptionReader& r, std::shared_ptr<const Dictionary>* out) {
  std::string path;
  if (!r.string("compression-dictionary", &path)) return true;
  std::string error;
  *out = Dictionary::load(path, &error);
  if (*out) return true;
  r.diag()->error(r.last_location(), "compression-dictionary() of " + r.what() + ": " + error,
                  "train one from sample logs with `logferry ferry-dictionary train -o FILE SAMPLES...`, and give "
                  "both ends the same file");
  return false;
}

std::string train_dictionary(const std::vector<std::string>& samples, size_t size, std::string* error) {
  std::string all;
  std::vector<size_t> sizes;
  sizes.reserve(samples.size());
  for (const auto& s : samples) {
    all += s;
    sizes.push_back(s.size());
  }
  std::string dict(size, '\0');
  size_t n = ZDICT_trainFromBuffer(dict.data(), dict.size(), all.data(), sizes.data(), static_cast<unsigned>(sizes.size()));
  if (ZDICT_isError(n)) {
    *error = std::string("zstd could not train a dictionary: ") + ZDICT_getErrorName(n) +
             " (give it more sample lines: a few hundred times --size in all)";
    return {};
  }
  dict.resize(n);
  return dict;
}

}  // namespace logferry::ferry
