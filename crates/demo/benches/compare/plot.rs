//! The two SVG plots of `docs/benchmarks.md`, drawn with `plotters` (SVG backend only, no fonts: the
//! text is left to the browser): the overshoot distribution per strategy, and the cost per approval and
//! the p95 overshoot against the number of MPEs.

use crate::figures::Figures;
use plotters::prelude::*;
use std::path::Path;

fn colour(strategy: &str) -> RGBColor {
    match strategy {
        "ours" => RGBColor(0xd6, 0x27, 0x28),
        s if s.ends_with("learning") => RGBColor(0xff, 0x7f, 0x0e),
        s if s.starts_with("ours") => RGBColor(0x94, 0x67, 0xbd),
        s if s.starts_with("5 s") => RGBColor(0x1f, 0x77, 0xb4),
        "oracle" => RGBColor(0x7f, 0x7f, 0x7f),
        _ => RGBColor(0x2c, 0xa0, 0x2c),
    }
}

type Err = Box<dyn std::error::Error>;
type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
/// A panel of the scale plot: title, y axis, what it shows of a run.
type Panel<'a, 'b> = (&'b Area<'a>, &'static str, &'static str, fn(&Figures) -> f64);

/// One panel per run (scenario and size): for each strategy the share of the tenant's MPEs approved
/// within x seconds of reporting pending (x on a log scale).
pub fn overshoot(path: &Path, runs: &[(String, &[Figures])]) -> Result<(), Err> {
    let cols = runs.len().clamp(1, 3);
    let rows = runs.len().div_ceil(cols).max(1);
    let root = SVGBackend::new(path, (420 * cols as u32, 340 * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((rows, cols));
    for ((title, figs), area) in runs.iter().zip(panels.iter()) {
        let hi = figs.iter().map(Figures::max).filter(|m| m.is_finite()).fold(1.0f64, f64::max) * 1.2;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d((0.05f64..hi).log_scale(), 0f64..1.0)?;
        chart
            .configure_mesh()
            .x_desc("seconds from pending to approved (log)")
            .y_desc("share of the MPEs")
            .x_labels(8)
            .y_labels(6)
            .draw()?;
        for f in figs.iter() {
            // Over every MPE of the tenant: a strategy that left some unapproved ends below 1.
            let n = f.mpes.max(1) as f64;
            let c = colour(&f.strategy);
            // At most ~400 points a line: the SVG stays small at 10,000 MPEs.
            let step = f.overshoot.len().div_ceil(400).max(1);
            let pts = f
                .overshoot
                .iter()
                .enumerate()
                .filter(|(i, _)| i % step == 0 || i + 1 == f.overshoot.len())
                .map(|(i, x)| (x.max(0.05), (i + 1) as f64 / n));
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))?
                .label(f.strategy.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// Two panels against the number of MPEs (log): ARM calls per approval, and the p95 overshoot; a line
/// per strategy over the runs of one scenario.
pub fn scale(path: &Path, figs: &[&Figures]) -> Result<(), Err> {
    let root = SVGBackend::new(path, (900, 380)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(450);
    let xs: Vec<f64> = figs.iter().map(|f| f.mpes as f64).collect();
    let (x_lo, x_hi) =
        (xs.iter().copied().fold(f64::MAX, f64::min) * 0.8, xs.iter().copied().fold(1.0, f64::max) * 1.25);
    let mut strategies: Vec<&str> = Vec::new();
    for f in figs {
        if !strategies.contains(&f.strategy.as_str()) {
            strategies.push(&f.strategy);
        }
    }
    let panels: [Panel; 2] = [
        (&left, "ARM calls per approval (log)", "calls (reads + writes)", Figures::calls_per),
        (&right, "p95 overshoot (log)", "seconds from pending to approved", Figures::p95),
    ];
    for (area, title, y_desc, value) in panels {
        let y_hi = figs.iter().map(|f| value(f)).filter(|v| v.is_finite()).fold(1.0f64, f64::max) * 1.3;
        let y_lo = figs.iter().map(|f| value(f)).filter(|v| v.is_finite() && *v > 0.0).fold(y_hi, f64::min) * 0.7;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(48)
            // Log scales: seconds for the polls, minutes for a saturated instance.
            .build_cartesian_2d((x_lo..x_hi).log_scale(), (y_lo..y_hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("MPEs in the tenant (log)")
            .y_desc(y_desc)
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| if *y < 10.0 { format!("{y:.1}") } else { format!("{y:.0}") })
            .draw()?;
        for s in &strategies {
            let c = colour(s);
            let mut pts: Vec<(f64, f64)> = figs
                .iter()
                .filter(|f| f.strategy == *s)
                .map(|f| (f.mpes as f64, value(f)))
                .filter(|p| p.1.is_finite())
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
                .label(s.to_string())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
