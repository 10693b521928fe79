// table_writer_api.cpp -- TableWriter's interface (shm/writer/table_writer.hpp)
// handing each call to its implementation (table_writer.cpp), so that the
// writer's users see none of shm's private headers.
#include "shm/src/table_writer_impl.hpp"

namespace edgekey::shm {

TableWriter::TableWriter(TableOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
TableWriter::~TableWriter() = default;

WriteError TableWriter::put(const TableRecord &r) { return impl_->put(r); }
const std::string &TableWriter::room_problem() const { return impl_->room_problem(); }
bool TableWriter::room_to_grow() const { return impl_->room_to_grow(); }
bool TableWriter::revoke(const std::array<uint8_t, 32> &hash) { return impl_->revoke(hash); }
bool TableWriter::remove(const std::array<uint8_t, 32> &hash) { return impl_->remove(hash); }
std::optional<TableRecord> TableWriter::get(const std::array<uint8_t, 32> &hash) const { return impl_->get(hash); }

void TableWriter::load(const std::vector<TableRecord> &records, std::vector<size_t> *rejected) {
  impl_->load(records, rejected);
}
void TableWriter::rebuild(uint64_t capacity) { impl_->rebuild(capacity); }
void TableWriter::set_options(const TableOptions &opts) { impl_->set_options(opts); }

void TableWriter::touch_contact(int64_t unix_s) { impl_->touch_contact(unix_s); }
void TableWriter::heartbeat(int64_t unix_s) { impl_->heartbeat(unix_s); }
void TableWriter::set_revision(uint64_t rev) { impl_->set_revision(rev); }
uint64_t TableWriter::revision() const { return impl_->revision(); }
int64_t TableWriter::last_contact() const { return impl_->last_contact(); }

bool TableWriter::attached() const { return impl_->attached(); }
bool TableWriter::settings_match() const { return impl_->settings_match(); }
uint64_t TableWriter::torn_slots() const { return impl_->torn_slots(); }

TableWriter::Stats TableWriter::stats() const { return impl_->stats(); }
std::string TableWriter::huge_page_report() const { return impl_->huge_page_report(); }
const TableOptions &TableWriter::options() const { return impl_->options(); }
const Generation *TableWriter::current() const { return impl_->current(); }
const HugePageHost &TableWriter::huge_page_host_state() const { return impl_->huge_page_host_state(); }
std::string TableWriter::address() const { return impl_->address(); }
const SegmentDir &TableWriter::segment_dir() const { return impl_->segment_dir(); }

}  // namespace edgekey::shm
