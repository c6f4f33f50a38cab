#include "client/multi_line.h"

namespace logferry {

namespace {

using Mode = MultiLineOptions::Mode;

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kNone: return "none";
    case Mode::kIndented: return "indented";
    case Mode::kPrefixGarbage: return "prefix-garbage";
    case Mode::kPrefixSuffix: return "prefix-suffix";
  }
  return "none";
}

re2::StringPiece piece_of(std::string_view s) { return re2::StringPiece(s.data(), s.size()); }

}  // namespace

void read_multi_line_options(OptionReader& r, MultiLineOptions* o) {
  std::string mode;
  Location mode_loc;
  const size_t errors_before = r.diag()->errors().size();
  bool have_mode = r.choice("multi-line-mode", {"none", "indented", "regexp", "prefix-garbage", "prefix-suffix"}, &mode);
  if (have_mode) {
    mode_loc = r.last_location();
    o->mode = mode == "indented"                              ? Mode::kIndented
              : mode == "regexp" || mode == "prefix-garbage" ? Mode::kPrefixGarbage
              : mode == "prefix-suffix"                      ? Mode::kPrefixSuffix
                                                             : Mode::kNone;
  }
  // A mode that is not valid was reported; the patterns are still checked.
  const bool bad_mode = r.diag()->errors().size() > errors_before;
  const bool regexp_mode = o->mode == Mode::kPrefixGarbage || o->mode == Mode::kPrefixSuffix;

  // Each pattern: compiled once here; its location kept for later messages.
  struct Pattern {
    const char* name;
    std::shared_ptr<const RE2>* out;
    bool given = false;
    Location loc;
  };
  Pattern patterns[] = {{"multi-line-prefix", &o->prefix, false, {}},
                        {"multi-line-garbage", &o->garbage, false, {}},
                        {"multi-line-suffix", &o->suffix, false, {}}};
  for (auto& p : patterns) {
    std::string text;
    if (!r.string(p.name, &text)) continue;
    p.given = true;
    p.loc = r.last_location();
    if (!regexp_mode && !bad_mode) {
      r.diag()->error(p.loc,
                      std::string(p.name) + "() in " + r.what() + " needs a regexp multi-line-mode(), not '" +
                          mode_name(o->mode) + "'",
                      "add multi-line-mode(prefix-garbage) or multi-line-mode(prefix-suffix)");
      continue;
    }
    RE2::Options ro;
    ro.set_log_errors(false);
    auto re = std::make_shared<const RE2>(text, ro);
    if (!re->ok()) {
      r.diag()->error(p.loc,
                      "invalid regular expression '" + text + "' in " + p.name + "() of " + r.what() + ": " +
                          re->error(),
                      "logferry uses RE2: no backreferences or lookaround");
      continue;
    }
    *p.out = std::move(re);
  }
  Pattern& garbage = patterns[1];
  Pattern& suffix = patterns[2];
  if (regexp_mode) {
    // syslog-ng keeps garbage and suffix in one place: each is the other in
    // the other mode.  Taken the same way here, with a warning.
    const bool garbage_mode = o->mode == Mode::kPrefixGarbage;
    Pattern& used = garbage_mode ? garbage : suffix;
    Pattern& other = garbage_mode ? suffix : garbage;
    if (other.given && used.given) {
      r.diag()->error(other.loc, std::string(other.name) + "() and " + used.name + "() both given in " + r.what(),
                      std::string("multi-line-mode(") + mode_name(o->mode) + ") uses " + used.name + "()");
    } else if (other.given) {
      r.diag()->warning(other.loc, std::string(other.name) + "() in " + r.what() + " with multi-line-mode(" +
                                       mode_name(o->mode) + ") is taken as " + used.name + "(), as syslog-ng does");
      *used.out = std::move(*other.out);
      other.out->reset();
      used.given = true;
    }
    if (!patterns[0].given && !used.given) {
      r.diag()->error(mode_loc,
                      std::string("multi-line-mode(") + mode_name(o->mode) + ") in " + r.what() +
                          " needs multi-line-prefix() or " + used.name + "()",
                      "e.g. multi-line-prefix(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}\") for lines that begin with a date");
    }
  }

  int64_t seconds;
  if (r.integer("multi-line-timeout", &seconds, 0, 86400)) o->timeout_ms = seconds * 1000;
}

MultiLineAssembler::MultiLineAssembler(const MultiLineOptions& options, size_t max_size, uint64_t start_position)
    : options_(options), max_size_(max_size == 0 ? 1 : max_size), last_end_(start_position), settled_(start_position) {
  if (options_.mode == Mode::kPrefixGarbage) end_re_ = options_.garbage.get();
  if (options_.mode == Mode::kPrefixSuffix) end_re_ = options_.suffix.get();
}

size_t MultiLineAssembler::end_cut(std::string_view line) const {
  if (!end_re_) return std::string_view::npos;
  re2::StringPiece m;
  if (!end_re_->Match(piece_of(line), 0, line.size(), RE2::UNANCHORED, &m, 1)) return std::string_view::npos;
  size_t begin = line.empty() ? 0 : static_cast<size_t>(m.data() - line.data());
  return options_.mode == Mode::kPrefixGarbage ? begin : begin + m.size();
}

bool MultiLineAssembler::is_start(std::string_view line) const {
  return options_.prefix && RE2::PartialMatch(piece_of(line), *options_.prefix);
}

void MultiLineAssembler::push(std::string_view line, uint64_t end_position, const Sink& sink, bool line_truncated) {
  switch (options_.mode) {
    case Mode::kNone: {
      const bool cut = line.size() > max_size_;
      sink(cut ? line.substr(0, max_size_) : line, end_position, cut || line_truncated);
      settled_ = end_position;
      return;
    }
    case Mode::kIndented: {
      const bool continues = line.empty() || line[0] == ' ' || line[0] == '\t';
      if (skipping_) {
        if (continues) {
          settled_ = end_position;  // the rest of a message that was cut
          return;
        }
        skipping_ = false;
      } else if (pending_) {
        if (continues) {
          append(line, end_position, false, line_truncated, sink);
          return;
        }
        emit(last_end_, sink);
      }
      start(line, end_position, std::string_view::npos, line_truncated, sink);
      return;
    }
    case Mode::kPrefixGarbage:
    case Mode::kPrefixSuffix: {
      const size_t cut = end_cut(line);
      if (skipping_) {
        if (cut != std::string_view::npos) {  // the message that was cut ends here
          skipping_ = false;
          settled_ = end_position;
          return;
        }
        if (!is_start(line)) {
          settled_ = end_position;
          return;
        }
        skipping_ = false;
      } else if (pending_) {
        if (cut != std::string_view::npos) {
          append(line.substr(0, cut), end_position, true, line_truncated, sink);
          return;
        }
        if (!is_start(line)) {
          append(line, end_position, false, line_truncated, sink);
          return;
        }
        emit(last_end_, sink);
      }
      start(line, end_position, cut, line_truncated, sink);
      return;
    }
  }
}

// The first line of a message; nothing is pending.  `cut`: where the end
// pattern matched in it, or npos.
void MultiLineAssembler::start(std::string_view line, uint64_t end_position, size_t cut, bool line_truncated,
                               const Sink& sink) {
  if (line.empty()) {  // never starts a message
    sink(line, end_position, line_truncated);
    settled_ = end_position;
    return;
  }
  if (cut != std::string_view::npos) {  // a message of one line
    std::string_view kept = line.substr(0, cut);
    if (!kept.empty()) {
      const bool over = kept.size() > max_size_;
      sink(over ? kept.substr(0, max_size_) : kept, end_position, over || line_truncated);
    }
    settled_ = end_position;  // a line that is all garbage is dropped
    return;
  }
  if (line.size() > max_size_) {
    sink(line.substr(0, max_size_), end_position, true);
    settled_ = end_position;
    skipping_ = true;
    return;
  }
  buf_.assign(line);
  pending_ = true;
  truncated_ = line_truncated;
  last_end_ = end_position;
}

// Adds a line (or the part of it kept) to the pending message; `ends`: the
// message ends with it.
void MultiLineAssembler::append(std::string_view piece, uint64_t end_position, bool ends, bool line_truncated,
                                const Sink& sink) {
  // An empty part that ends the message adds nothing, not even the separator.
  const size_t need = ends && piece.empty() ? 0 : 1 + piece.size();
  truncated_ = truncated_ || line_truncated;
  last_end_ = end_position;
  if (buf_.size() + need <= max_size_) {
    if (need > 0) {
      buf_ += '\n';
      buf_.append(piece);
    }
    if (ends) emit(end_position, sink);
    return;
  }
  const size_t room = max_size_ - buf_.size();
  if (room > 0) {
    buf_ += '\n';
    buf_.append(piece.substr(0, room - 1));
  }
  truncated_ = true;
  emit(end_position, sink);
  if (!ends) skipping_ = true;
}

void MultiLineAssembler::emit(uint64_t end_position, const Sink& sink) {
  std::string_view message(buf_);
  while (!message.empty() && message.back() == '\n') message.remove_suffix(1);  // trailing empty lines
  sink(message, end_position, truncated_);
  buf_.clear();
  pending_ = false;
  truncated_ = false;
  settled_ = end_position;
}

void MultiLineAssembler::flush(const Sink& sink) {
  if (pending_) emit(last_end_, sink);
  skipping_ = false;
}

void MultiLineAssembler::reset(uint64_t position) {
  buf_.clear();
  pending_ = false;
  truncated_ = false;
  skipping_ = false;
  last_end_ = position;
  settled_ = position;
}

}  // namespace logferry
