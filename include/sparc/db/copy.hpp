#pragma once
/// @file copy.hpp
/// Bulk loading with `COPY table (columns) FROM STDIN`: the table name, the row writer, and the
/// COPY text encoding shared by every backend (see docs/copy.md).

#include <chrono>
#include <concepts>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <sparc/db/errors.hpp>
#include <sparc/db/params.hpp>

namespace sparc::db {

/// The table a COPY loads: one identifier (`"events"`), or a schema and a table
/// (`{"audit", "events"}`). Each part is quoted as an identifier exactly as given: `"a.b"` is
/// one table whose name contains a dot, not table b of schema a; case is kept (`"Events"` is
/// not `events`).
struct TableName {
    /// A table found through search_path.
    TableName(const char* table) : name(table) {}  // NOLINT(google-explicit-constructor)
    /// A table found through search_path.
    TableName(std::string_view table) : name(table) {}  // NOLINT(google-explicit-constructor)
    /// A table found through search_path.
    TableName(const std::string& table) : name(table) {}  // NOLINT(google-explicit-constructor)
    /// `schema`.`table`.
    TableName(std::string_view schema_name, std::string_view table)
        : schema(schema_name), name(table) {}

    std::string schema;  ///< Empty: none (search_path decides).
    std::string name;
};

/// The COPY data chunk a backend sends in one go: rows are encoded until this many bytes are
/// buffered (a row is never split).
inline constexpr std::size_t kCopyChunkBytes = 64 * 1024;
/// A chunk is handed over after this long even when it is not full, so that a slow row source
/// does not keep the COPY from its deadline or a stop request, which are checked between chunks.
inline constexpr std::chrono::milliseconds kCopyChunkTime{20};

namespace detail {

/// `"name"`: an identifier in double quotes, inner quotes doubled. @throws UsageError for an
/// empty name or one with a NUL byte.
std::string quote_identifier(std::string_view name);

/// `COPY "table" ("a", "b") FROM STDIN`; without columns, `COPY "table" FROM STDIN`.
/// @throws UsageError for an empty or NUL-bearing name, or a column named twice.
std::string copy_statement(const TableName& table, const std::vector<std::string>& columns);

/// Appends one field in COPY text format: `\N` for NULL; text with backslash, tab, newline and
/// carriage return escaped; a binary (bytea) parameter as `\\x` and hex digits.
/// @throws UsageError when a text value holds a NUL byte, naming `column` and `row` (1-based).
void append_copy_field(std::string& out, const Param& value, std::string_view column,
                       std::size_t row);

/// The rows of COPY text data, each field unescaped (nullopt for `\N`). For the fake backend
/// and tests. @throws UsageError for data that is not COPY text.
std::vector<std::vector<std::optional<std::string>>> parse_copy_text(std::string_view data);

/// A non-owning reference to the source of a COPY's data: each call appends whole rows in COPY
/// text format to `out` (about kCopyChunkBytes of them) and returns false once the rows have
/// ended (`out` may then still hold the last ones). It is only called after the server
/// accepted the COPY statement. What it throws is the caller's (a row source that failed, a
/// value refused): the backend aborts the COPY and rethrows it unchanged.
class CopySource {
  public:
    template <typename F>
    requires(!std::same_as<std::remove_cvref_t<F>, CopySource> &&
             std::invocable<F&, std::string&>) explicit CopySource(F& f) noexcept
        : object_(std::addressof(f)), call_([](void* object, std::string& out) -> bool {
              return static_cast<bool>(std::invoke(*static_cast<F*>(object), out));
          }) {}

    /// Appends the next rows to `out`; false when there are no more after them.
    bool operator()(std::string& out) const { return call_(object_, out); }

  private:
    void* object_;
    bool (*call_)(void*, std::string&);
};

template <typename T>
concept copy_tuple = requires {
    std::tuple_size<std::remove_cvref_t<T>>::value;
};

}  // namespace detail

/// What a COPY row source function is handed: `w.row(id, kind, at)` (or `w.row(tuple)`) adds
/// one row, each value converted exactly as a statement parameter is (db::Param, so
/// std::optional<T> / std::nullopt is NULL, db::Bytes is bytea, and any db::Traits<T> type).
class CopyWriter {
  public:
    /// Adds one row. @throws UsageError when the number of values is not the number of
    /// columns, or a text value holds a NUL byte (the COPY is then aborted: nothing is loaded).
    template <typename... T>
    requires(sizeof...(T) > 0 && (ParamType<T> && ...)) void row(const T&... values) {
        begin_row(sizeof...(T));
        std::size_t i = 0;
        (field(Param(values), i++), ...);
        out_->back() = '\n';
    }
    /// Adds one row from a std::tuple (pair, array) of values.
    template <typename Tuple>
    requires detail::copy_tuple<Tuple>
    void row(const Tuple& values) {
        std::apply([this](const auto&... v) { this->row(v...); }, values);
    }
    /// Rows added so far.
    std::size_t rows() const noexcept { return rows_; }

    /// A writer appending to `out`, checking rows against `columns` (any count when empty).
    CopyWriter(std::string& out, const std::vector<std::string>& columns) noexcept
        : out_(&out), columns_(&columns) {}
    /// Where the rows go next (the backend takes the buffer between chunks).
    void retarget(std::string& out) noexcept { out_ = &out; }

  private:
    void begin_row(std::size_t values) {
        ++rows_;
        if (!columns_->empty() && values != columns_->size()) {
            throw UsageError("copy_in: row " + std::to_string(rows_) + " has " +
                             std::to_string(values) + " values for " +
                             std::to_string(columns_->size()) + " columns");
        }
    }
    void field(const Param& value, std::size_t i) {
        static const std::string unnamed;
        detail::append_copy_field(*out_, value, i < columns_->size() ? (*columns_)[i] : unnamed,
                                  rows_);
        out_->push_back('\t');
    }

    std::string* out_;
    const std::vector<std::string>* columns_;
    std::size_t rows_ = 0;
};

/// A function that writes COPY rows: called with a CopyWriter again and again until it returns
/// false (the rows it added in that last call are loaded too).
template <typename F>
concept CopyRowFunction =
    std::invocable<F&, CopyWriter&> && std::convertible_to < std::invoke_result_t<F&, CopyWriter&>,
bool > ;

/// A range of tuples (std::tuple, std::pair, std::array) of parameter values.
template <typename R>
concept CopyRowRange =
    std::ranges::input_range<R> && detail::copy_tuple<std::ranges::range_reference_t<R>>;

/// What copy_in() loads: a range of tuples, or a CopyRowFunction.
template <typename R>
concept CopyRows = CopyRowFunction<R> || CopyRowRange<R>;

namespace detail {

/// Builds the COPY statement, checks what can be checked before anything is sent (names, a
/// tuple's size against the columns), and calls `run(sql, source)` with the rows as a
/// CopySource. @returns what `run` returns (the rows loaded).
template <typename Rows, typename Run>
std::size_t run_copy(const TableName& table, const std::vector<std::string>& columns, Rows& rows,
                     Run&& run) {
    const std::string sql = copy_statement(table, columns);
    std::string scratch;
    CopyWriter writer(scratch, columns);
    if constexpr (CopyRowFunction<Rows>) {
        bool more = true;
        auto fill = [&](std::string& out) -> bool {
            writer.retarget(out);
            const auto until = std::chrono::steady_clock::now() + kCopyChunkTime;
            while (more && out.size() < kCopyChunkBytes) {
                more = static_cast<bool>(std::invoke(rows, writer));
                if (std::chrono::steady_clock::now() >= until) break;
            }
            return more;
        };
        return run(std::string_view(sql), CopySource(fill));
    } else {
        using Tuple = std::remove_cvref_t<std::ranges::range_reference_t<Rows>>;
        constexpr std::size_t width = std::tuple_size_v<Tuple>;
        if (!columns.empty() && width != columns.size()) {
            throw UsageError("copy_in: the rows have " + std::to_string(width) +
                             " values each for " + std::to_string(columns.size()) + " columns");
        }
        std::optional<std::ranges::iterator_t<Rows>> it;
        auto fill = [&](std::string& out) -> bool {
            writer.retarget(out);
            if (!it) it.emplace(std::ranges::begin(rows));
            auto& i = *it;
            const auto end = std::ranges::end(rows);
            const auto until = std::chrono::steady_clock::now() + kCopyChunkTime;
            for (std::size_t n = 1; i != end && out.size() < kCopyChunkBytes; ++n) {
                writer.row(*i);
                ++i;
                // A range may compute its rows (a view): the clock every 64 of them.
                if (n % 64 == 0 && std::chrono::steady_clock::now() >= until) break;
            }
            return i != end;
        };
        return run(std::string_view(sql), CopySource(fill));
    }
}

}  // namespace detail

}  // namespace sparc::db
