// The node id of the ferry protocol: 16 random bytes a logferry instance
// makes once and keeps in PERSIST-DIR/node-id, naming it as an origin of
// messages across restarts.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace logferry {

using NodeId = std::array<uint8_t, 16>;

// Reads PERSIST-DIR/node-id, or makes a new id and writes it there (written
// to a temporary file, fsynced and renamed, so a crash leaves either no
// file or a whole one).  False and *error when neither works.
bool load_or_create_node_id(const std::string& persist_dir, NodeId* id, std::string* error);

// 32 hex digits, for logs and file names.
std::string node_id_hex(const NodeId& id);

}  // namespace logferry
