#include <sparc/db/copy.hpp>

#include <set>

#include <fmt/format.h>

namespace sparc::db::detail {

std::string quote_identifier(std::string_view name) {
    if (name.empty()) throw UsageError("copy_in: an empty table or column name");
    if (name.find('\0') != std::string_view::npos) {
        throw UsageError("copy_in: a table or column name holds a NUL byte");
    }
    std::string out;
    out.reserve(name.size() + 2);
    out.push_back('"');
    for (const char c : name) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

std::string copy_statement(const TableName& table, const std::vector<std::string>& columns) {
    std::string sql = "COPY ";
    if (!table.schema.empty()) {
        sql += quote_identifier(table.schema);
        sql += '.';
    }
    sql += quote_identifier(table.name);
    if (!columns.empty()) {
        std::set<std::string_view> seen;
        sql += " (";
        for (std::size_t i = 0; i < columns.size(); ++i) {
            if (!seen.insert(columns[i]).second) {
                throw UsageError(fmt::format("copy_in: column \"{}\" is named twice", columns[i]));
            }
            if (i > 0) sql += ", ";
            sql += quote_identifier(columns[i]);
        }
        sql += ')';
    }
    sql += " FROM STDIN";
    return sql;
}

void append_copy_field(std::string& out, const Param& value, std::string_view column,
                       std::size_t row) {
    if (value.is_null()) {
        out += "\\N";
        return;
    }
    const std::string& text = value.text();
    if (value.is_binary()) {
        // bytea input in hex form, its backslash escaped for COPY: \\x00ff.
        static constexpr char kHex[] = "0123456789abcdef";
        out.reserve(out.size() + 3 + 2 * text.size());
        out += "\\\\x";
        for (const char c : text) {
            const auto b = static_cast<unsigned char>(c);
            out.push_back(kHex[b >> 4U]);
            out.push_back(kHex[b & 0xFU]);
        }
        return;
    }
    if (text.find('\0') != std::string::npos) {
        throw UsageError(fmt::format(
            "copy_in: the value of column \"{}\" in row {} holds a NUL byte, which PostgreSQL "
            "cannot store in text; nothing was loaded",
            column, row));
    }
    out.reserve(out.size() + text.size());
    for (const char c : text) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                out.push_back(c);
        }
    }
}

std::vector<std::vector<std::optional<std::string>>> parse_copy_text(std::string_view data) {
    std::vector<std::vector<std::optional<std::string>>> rows;
    std::size_t i = 0;
    while (i < data.size()) {
        std::vector<std::optional<std::string>> row;
        std::string field;
        bool null = false;
        bool started = false;
        auto end_field = [&] {
            if (null) {
                row.emplace_back(std::nullopt);
            } else {
                row.emplace_back(std::move(field));
            }
            field.clear();
            null = false;
            started = false;
        };
        while (true) {
            if (i >= data.size()) throw UsageError("COPY data: the last row has no newline");
            const char c = data[i++];
            if (c == '\n') {
                end_field();
                break;
            }
            if (c == '\t') {
                end_field();
                continue;
            }
            if (c != '\\') {
                if (null) throw UsageError("COPY data: \\N followed by more text");
                field.push_back(c);
                started = true;
                continue;
            }
            if (i >= data.size()) throw UsageError("COPY data: a backslash at the end");
            const char e = data[i++];
            if (e == 'N' && !started) {
                null = true;
                started = true;
                continue;
            }
            started = true;
            switch (e) {
                case 't':
                    field.push_back('\t');
                    break;
                case 'n':
                    field.push_back('\n');
                    break;
                case 'r':
                    field.push_back('\r');
                    break;
                case 'b':
                    field.push_back('\b');
                    break;
                case 'f':
                    field.push_back('\f');
                    break;
                case 'v':
                    field.push_back('\v');
                    break;
                default:
                    field.push_back(e);
                    break;
            }
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

}  // namespace sparc::db::detail
