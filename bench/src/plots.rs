//! The plots of `docs/performance.md`, drawn as SVG with plotters from a [`Report`].

use std::path::Path;

use leasehold_bench::report::Report;
use leasehold_bench::scenario::{Runner, Style};
use leasehold_bench::summary::Summary;
use leasehold_bench::{BenchError, Contender, Durability};
use plotters::coord::Shift;
use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;

pub(crate) type Panel<'a> = DrawingArea<SVGBackend<'a>, Shift>;

pub(crate) const SIZE: (u32, u32) = (1100, 760);

/// Writes every plot into `dir` (created if missing).
///
/// # Errors
///
/// File and drawing errors.
pub(crate) fn write_all(report: &Report, dir: &Path) -> Result<(), BenchError> {
    if !crate::docs::has_sqlite(report) {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    for runner in [Runner::Processes, Runner::Threads] {
        let name = match runner {
            Runner::Processes => "throughput-processes.svg",
            Runner::Threads => "throughput-threads.svg",
        };
        throughput(report, runner, &dir.join(name))?;
    }
    latency(report, &dir.join("latency.svg"))
}

pub(crate) fn plot_error(e: impl std::fmt::Display) -> BenchError {
    BenchError::Protocol(format!("plot: {e}"))
}

pub(crate) fn colour(contender: Contender) -> RGBColor {
    match contender {
        Contender::Floor => RGBColor(110, 110, 110),
        Contender::SqliteStore => RGBColor(0, 114, 178),
        Contender::Transactional => RGBColor(230, 159, 0),
        Contender::CheckThenAct => RGBColor(213, 94, 0),
        Contender::FsyncFloor => RGBColor(0, 158, 115),
        Contender::PgStore => RGBColor(0, 90, 160),
        Contender::PgStorePrepared => RGBColor(86, 180, 233),
        Contender::PgFloor => RGBColor(60, 60, 60),
        Contender::PgFloorUnnamed => RGBColor(150, 150, 150),
        Contender::PgAdvisory => RGBColor(204, 121, 167),
        Contender::PgCommitFloor => RGBColor(0, 130, 90),
    }
}

/// Cycles/s against clients, one line per lock: a panel per durability and resource count.
fn throughput(report: &Report, runner: Runner, path: &Path) -> Result<(), BenchError> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let unit = match runner {
        Runner::Processes => "processes",
        Runner::Threads => "threads",
    };
    let panels = root.split_evenly((2, 2));
    let cases = Durability::ALL.into_iter().flat_map(|d| [(d, 1), (d, 64)]);
    for (panel, (durability, resources)) in panels.iter().zip(cases) {
        let title = format!(
            "{}, {resources} resource(s): cycles/s vs {unit}",
            durability.name()
        );
        let lines: Vec<_> = Contender::LOCKS
            .into_iter()
            .map(|c| (c, points(report, c, durability, runner, resources)))
            .collect();
        throughput_panel(panel, &title, unit, &lines)?;
    }
    root.present().map_err(plot_error)
}

/// `(clients, cycles/s)` of one lock on one line; the single process starts every line.
fn points(
    report: &Report,
    contender: Contender,
    durability: Durability,
    runner: Runner,
    resources: usize,
) -> Vec<(f64, f64)> {
    report
        .select(|s| {
            let sc = s.scenario;
            sc.contender == contender
                && sc.durability == durability
                && sc.resources == resources
                && sc.style == Style::Retry
                && (sc.runner == runner || sc.clients == 1)
        })
        .map(|s| ((s.scenario.clients as f64).log2(), s.cycles_per_second))
        .collect()
}

fn throughput_panel(
    panel: &Panel<'_>,
    title: &str,
    unit: &str,
    lines: &[(Contender, Vec<(f64, f64)>)],
) -> Result<(), BenchError> {
    let top = lines
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(panel)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        // x is log2(clients): 1, 2, 4 and 8 evenly spaced, labelled with the counts.
        .build_cartesian_2d(-0.2_f64..3.2, 0.0..top)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc(unit)
        .y_desc("cycles/s")
        .x_labels(8)
        .x_label_formatter(&clients_label)
        .draw()
        .map_err(plot_error)?;
    for (contender, points) in lines {
        let style = colour(*contender).stroke_width(2);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style))
            .map_err(plot_error)?
            .label(contender.name())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
        let dots = points.iter().map(|&p| Circle::new(p, 3, style.filled()));
        chart.draw_series(dots).map_err(plot_error)?;
    }
    legend(&mut chart)
}

/// The client count at `log2` position `x`, for the whole positions only.
fn clients_label(x: &f64) -> String {
    [1, 2, 4, 8]
        .into_iter()
        .find(|&n| (f64::from(n).log2() - x).abs() < 1e-6)
        .map_or_else(String::new, |n| n.to_string())
}

pub(crate) fn legend<'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
) -> Result<(), BenchError> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(plot_error)
}

/// Cumulative distributions of acquire latency: one process alone, and 8 processes on one
/// resource (busy retries included), in both durability modes.
fn latency(report: &Report, path: &Path) -> Result<(), BenchError> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let panels = root.split_evenly((2, 2));
    let cases = [1, 8]
        .into_iter()
        .flat_map(|n| Durability::ALL.map(|d| (n, d)));
    for (panel, (clients, durability)) in panels.iter().zip(cases) {
        let found: Vec<&Summary> = report
            .select(|s| {
                let sc = s.scenario;
                sc.durability == durability
                    && sc.clients == clients
                    && sc.resources == 1
                    && sc.runner == Runner::Processes
                    && sc.style == Style::Retry
            })
            .collect();
        let title = format!(
            "{}: acquire latency, {clients} process(es), 1 resource",
            durability.name()
        );
        latency_panel(panel, &title, &found)?;
    }
    root.present().map_err(plot_error)
}

fn latency_panel(panel: &Panel<'_>, title: &str, found: &[&Summary]) -> Result<(), BenchError> {
    let curves: Vec<(Contender, Vec<(f64, f64)>)> = found
        .iter()
        .map(|s| {
            let cdf = s.histogram.cumulative();
            let us = cdf.iter().map(|(d, f)| (d.as_secs_f64() * 1e6, *f));
            (s.scenario.contender, us.collect())
        })
        .collect();
    let all = curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.0));
    let (low, high) = all.fold((f64::MAX, 1.0_f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let low = low.clamp(0.1, high / 2.0);
    let mut chart = ChartBuilder::on(panel)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d((low..high * 1.2).log_scale(), 0.0..1.0)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("µs (log scale)")
        .y_desc("fraction of acquires")
        .draw()
        .map_err(plot_error)?;
    for (contender, curve) in curves {
        let style = colour(contender).stroke_width(2);
        chart
            .draw_series(LineSeries::new(curve, style))
            .map_err(plot_error)?
            .label(contender.name())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
    }
    legend(&mut chart)
}
