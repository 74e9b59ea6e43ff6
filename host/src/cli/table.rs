//! Plain-text tables for people; `-o json` is for scripts.

use crate::text::escape_control;

/// Left-aligned columns separated by two spaces; the last column is not padded.
/// Cells often hold what a plugin, an agent or Azure said: control characters
/// are escaped, so no cell can break the table or drive the terminal.
pub fn render<const N: usize>(headers: [&str; N], rows: &[[String; N]]) -> String {
    let rows: Vec<[std::borrow::Cow<'_, str>; N]> = rows
        .iter()
        .map(|row| row.each_ref().map(|cell| escape_control(cell)))
        .collect();
    let rows = &rows;
    let mut widths = headers.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push('\n');
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(|cell| cell.as_ref()).collect());
    }
    out
}

/// Unix milliseconds as RFC 3339, or `-`.
pub fn time(ms: Option<i64>) -> String {
    ms.map(crate::plugins::registry::format_ms)
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_align() {
        let t = super::render(["A", "BB"], &[["xyz".into(), "1".into()]]);
        assert_eq!(t, "A    BB\nxyz  1\n");
    }

    #[test]
    fn cells_cannot_break_the_table_or_reach_the_terminal() {
        let t = super::render(["A", "B"], &[["x\ny\x1b[2J".into(), "1".into()]]);
        assert_eq!(t, "A              B\nx\\ny\\u{1b}[2J  1\n");
    }
}
