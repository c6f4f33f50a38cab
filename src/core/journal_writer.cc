#include "core/journal_writer.h"

#include "core/delivery_journal.h"

namespace logferry {

JournalWriter::JournalWriter(uv_loop_t* loop, DeliveryJournal* journal, Done done)
    : loop_(loop), journal_(journal), done_(std::move(done)) {
  work_.data = this;
}

void JournalWriter::start(uint64_t flush_seq) {
  path_ = journal_->path();
  text_ = journal_->begin_commit(flush_seq);
  error_.clear();
  ok_ = false;
  running_ = true;
  int rc = uv_queue_work(loop_, &work_, write, written);
  if (rc != 0) {
    // Not queued (not expected: only a bad argument fails): write it here.
    write(&work_);
    written(&work_, 0);
  }
}

// On a thread of the pool: only the members handed over.
void JournalWriter::write(uv_work_t* work) {
  auto* self = static_cast<JournalWriter*>(work->data);
  self->ok_ = write_file_durably(self->path_, self->text_, &self->error_);
}

void JournalWriter::written(uv_work_t* work, int status) {
  auto* self = static_cast<JournalWriter*>(work->data);
  self->running_ = false;
  if (status != 0 && self->error_.empty()) self->error_ = uv_strerror(status);
  bool ok = status == 0 && self->ok_;
  if (!ok) self->journal_->commit_failed();
  self->done_(ok, self->error_);
}

}  // namespace logferry
