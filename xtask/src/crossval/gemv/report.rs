//! The matmul section of crossval's report.

use crate::crossval::Report;

impl Report<'_> {
    /// Files, tensors and rows of the GEMV comparison that agreed.
    pub(in crate::crossval) fn gemv_totals(&self) -> (usize, usize, usize) {
        let ok = self.gemv.iter().filter(|r| r.outcome.mismatches.is_empty());
        ok.fold((0, 0, 0), |(f, t, r), g| {
            (f + 1, t + g.outcome.tensors, r + g.outcome.rows)
        })
    }
    pub(in crate::crossval) fn kernel_names(&self) -> String {
        let names: Vec<&str> = self.kernels.iter().map(|k| k.name()).collect();
        names.join(", ")
    }
    /// The matmul section: one line per file.
    pub(in crate::crossval) fn print_gemv_text(&self, fw: usize) {
        println!(
            "matmul: ggml's generic C (quantize_row_q8_K_ref, ggml_vec_dot_tq{{1,2}}_0_q8_K) \
             against matmul::ggml, kernels {}, bit for bit:",
            self.kernel_names()
        );
        println!("{:fw$}  tensors  rows  result", "file");
        for row in self.gemv {
            let o = &row.outcome;
            let result = match o.mismatches.first() {
                None => "ok".to_owned(),
                Some(m) => {
                    let more = match o.mismatches.len() {
                        1 => String::new(),
                        n => format!(" (+{} more)", n - 1),
                    };
                    format!(
                        "MISMATCH: {}: expected {} (ggml), found {} (project){more}",
                        m.what, m.expected, m.found
                    )
                }
            };
            println!(
                "{:fw$}  {:>7}  {:>4}  {result}",
                self.name(row.file),
                o.tensors,
                o.rows
            );
        }
    }
}
