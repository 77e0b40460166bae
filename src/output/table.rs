//! Plain-text tables for a terminal: each column as wide as its widest cell,
//! two spaces between columns, no padding after the last.

/// The rows (the first one is usually the header), a line each.
pub fn render<S: AsRef<str>>(rows: &[Vec<S>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.as_ref().chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let last = row.len().saturating_sub(1);
        for (column, cell) in row.iter().enumerate() {
            let cell = cell.as_ref();
            if column < last {
                let width = widths[column] + 2;
                out.push_str(&format!("{cell:<width$}"));
            } else {
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_under_their_widest_cell() {
        let rows = vec![
            vec!["NODE", "HEALTH", "PUSHES"],
            vec!["n10", "UNHEALTHY", "1 FAILED"],
            vec!["n2", "ok", "3 ok"],
        ];
        assert_eq!(
            render(&rows),
            "NODE  HEALTH     PUSHES\nn10   UNHEALTHY  1 FAILED\nn2    ok         3 ok\n"
        );
        assert_eq!(render::<&str>(&[]), "");
    }
}
