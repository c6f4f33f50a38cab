// What clickhouse() reads in ClickHouse's answer to a failed request: its
// error code, the row it could not read, and whether the error is a row's
// (the batch is split) or not (the batch is retried).  The answer holds
// bytes of the rows sent (ClickHouse quotes the text after a parse error),
// so nothing here trusts it beyond finding digits.
#pragma once

#include <cstddef>
#include <string>

namespace logferry {

// The error code at the start of the answer ("Code: 27, e.displayText() =
// ..." in 18.16, "Code: 27. DB::Exception: ..." later); -1 when there is
// none.
int clickhouse_error_code(const std::string& answer);
// The row that could not be read, 1-based, from the last "(at row N)"
// (ClickHouse puts it after the quoted input); 0 when there is none.
size_t clickhouse_bad_row(const std::string& answer);
// A value could not be read or converted (CANNOT_PARSE_*, TYPE_MISMATCH,
// INCORRECT_DATA, ...), or the answer says at which row.
bool clickhouse_row_error(int code, const std::string& answer);
// The table, the database or a column is missing.
bool clickhouse_schema_error(int code);
// For a report: "HTTP 500: Code: 27, ..." (the first line, at most 300
// bytes, without 18.16's ", e.what() = DB::Exception" tail, every byte
// other than printable ASCII as '?').
std::string clickhouse_answer_text(const std::string& answer, long status);

}  // namespace logferry
