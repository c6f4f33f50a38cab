// OptionReader: reads the options of one driver or block out of its
// ConfNode, checking each value, and reports what is left: an option nobody
// asked for is an error with the nearest known name as a hint.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config_tree.h"

namespace logferry {

// Collects errors and warnings while a config is validated.
class Diagnostics {
 public:
  explicit Diagnostics(const ConfigTree* tree) : tree_(tree) {}
  void error(const Location& loc, const std::string& msg, const std::string& hint = "");
  void warning(const Location& loc, const std::string& msg);
  bool ok() const { return errors_.empty(); }
  const std::vector<std::string>& errors() const { return errors_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  const ConfigTree& tree() const { return *tree_; }

 private:
  const ConfigTree* tree_;
  std::vector<std::string> errors_;
  std::vector<std::string> warnings_;
};

class OptionReader {
 public:
  // `node` is the driver (e.g. network(...)) or a synthetic node holding the
  // options of a block; `what` names it in messages ("network() source").
  OptionReader(const ConfNode& node, std::string what, Diagnostics* diag);

  // Positional values (the "/path" of file("/path")).
  const std::vector<const ConfNode*>& positional() const { return positional_; }
  // Marks the positional values as handled.
  void take_positional() { positional_taken_ = true; }

  // Each returns true when the option was present (and valid).  `name`
  // uses dashes; the user may write dashes or underscores.
  bool string(const char* name, std::string* out);
  bool strings(const char* name, std::vector<std::string>* out);  // all values
  bool integer(const char* name, int64_t* out, int64_t min, int64_t max);
  bool yesno(const char* name, bool* out);
  bool octal(const char* name, int* out);  // perm(0640)
  // A choice among fixed words, e.g. transport("tcp"|"udp").
  bool choice(const char* name, const std::vector<std::string>& choices, std::string* out);
  // flags(a, b, c): each must be one of `known`.
  bool flags(const char* name, const std::vector<std::string>& known, std::vector<std::string>* out);
  // owner("user") and group("group"): this driver's own options, else the
  // given defaults; names are looked up now, an unknown one is an error.
  // -1 means "leave as created".
  void owner_group(const std::string& default_owner, const std::string& default_group, int* uid, int* gid);
  // A nested option whose own options the caller reads with another reader.
  const ConfNode* child(const char* name);
  // Accepted, not acted on yet: a warning names it.
  void accepted_not_implemented(const char* name);

  // Reports every option that no call asked for.  Returns false on errors.
  bool finish();

  Diagnostics* diag() const { return diag_; }
  // Where the option found by the last call was written.
  const Location& last_location() const { return last_loc_; }
  const std::string& what() const { return what_; }

 private:
  const ConfNode* find(const char* name);
  const ConfNode* single_value(const ConfNode* opt);

  const ConfNode& node_;
  std::string what_;
  Diagnostics* diag_;
  std::vector<const ConfNode*> positional_;
  bool positional_taken_ = false;
  std::vector<const ConfNode*> options_;
  std::vector<bool> used_;
  std::vector<std::string> known_;
  Location last_loc_ = node_.loc;
};

}  // namespace logferry
