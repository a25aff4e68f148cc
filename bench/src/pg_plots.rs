//! The PostgreSQL comparison's plot: cycles/s against connections for every contender, one
//! panel for one resource and one for 64, the range over rounds as a bar, and the group-commit
//! points at 16 connections.

use std::path::Path;

use leasehold_bench::plan::{GROUP_COMMIT_CLIENTS, PG_CLIENTS};
use leasehold_bench::report::Report;
use leasehold_bench::scenario::{Runner, Style};
use leasehold_bench::summary::Summary;
use leasehold_bench::{BenchError, Contender, Durability};
use plotters::prelude::*;

use crate::plots::{Panel, SIZE, colour, legend, plot_error};

/// The lines of each panel.
const LINES: [Contender; 8] = [
    Contender::PgStore,
    Contender::PgStorePrepared,
    Contender::PgFloor,
    Contender::PgFloorUnnamed,
    Contender::PgAdvisory,
    Contender::PgCommitFloor,
    Contender::SqliteStore,
    Contender::FsyncFloor,
];

/// Writes `postgres.svg` into `dir` when the run measured the PostgreSQL comparison.
///
/// # Errors
///
/// File and drawing errors.
pub(crate) fn write(report: &Report, dir: &Path) -> Result<(), BenchError> {
    if !crate::docs::has_postgres(report) {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join("postgres.svg");
    let root = SVGBackend::new(&path, (SIZE.0, SIZE.1 / 2 + 40)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    for (panel, resources) in root.split_evenly((1, 2)).iter().zip([1, 64]) {
        draw(report, panel, resources)?;
    }
    root.present().map_err(plot_error)
}

/// One contender's scenario at `clients`; the commit floors run on one resource whatever
/// the panel.
fn find(
    report: &Report,
    contender: Contender,
    durability: Durability,
    clients: usize,
    resources: usize,
) -> Option<&Summary> {
    let resources = match contender {
        Contender::PgCommitFloor | Contender::FsyncFloor => 1,
        _ => resources,
    };
    report
        .select(|s| {
            let sc = s.scenario;
            (
                sc.contender,
                sc.durability,
                sc.runner,
                sc.clients,
                sc.resources,
                sc.style,
            ) == (
                contender,
                durability,
                Runner::Processes,
                clients,
                resources,
                Style::Retry,
            )
        })
        .next()
}

/// `(log2 clients, median, lowest round, highest round)`, cycles/s at least 1 (a log scale).
type Point = (f64, f64, f64, f64);

fn point(s: &Summary) -> Point {
    let rounds = &s.rounds_cycles_per_second;
    let low = rounds.iter().copied().fold(f64::INFINITY, f64::min);
    let high = rounds.iter().copied().fold(0.0, f64::max);
    let x = (s.scenario.clients as f64).log2();
    (x, s.cycles_per_second.max(1.0), low.max(1.0), high.max(1.0))
}

fn draw(report: &Report, panel: &Panel<'_>, resources: usize) -> Result<(), BenchError> {
    let lines: Vec<(Contender, Vec<Point>)> = LINES
        .into_iter()
        .map(|c| {
            let points = PG_CLIENTS
                .iter()
                .filter_map(|&n| find(report, c, Durability::Full, n, resources))
                .map(point)
                .collect();
            (c, points)
        })
        .collect();
    let grouped: Vec<(Contender, Point)> = Contender::POSTGRES
        .into_iter()
        .filter_map(|c| {
            let s = find(
                report,
                c,
                Durability::GroupCommit,
                GROUP_COMMIT_CLIENTS,
                resources,
            )?;
            Some((c, point(s)))
        })
        .collect();
    let all = lines
        .iter()
        .flat_map(|(_, p)| p.iter())
        .chain(grouped.iter().map(|(_, p)| p));
    let (low, high) = all.fold((f64::MAX, 1.0_f64), |(lo, hi), p| {
        (lo.min(p.2), hi.max(p.3))
    });
    let low = (low / 1.5).clamp(1.0, high / 2.0);
    let title = format!("{resources} resource(s): cycles/s vs connections (log scale)");
    let mut chart = ChartBuilder::on(panel)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.3_f64..4.4, (low..high * 1.5).log_scale())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("connections (processes for SQLite); hollow: group commit")
        .y_desc("cycles/s")
        .x_labels(10)
        .x_label_formatter(&|x: &f64| {
            PG_CLIENTS
                .iter()
                .find(|&&n| ((n as f64).log2() - x).abs() < 1e-6)
                .map_or_else(String::new, ToString::to_string)
        })
        .draw()
        .map_err(plot_error)?;
    for (contender, points) in &lines {
        let style = colour(*contender).stroke_width(2);
        chart
            .draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), style))
            .map_err(plot_error)?
            .label(contender.name())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
        let bars = points
            .iter()
            .map(|p| PathElement::new([(p.0, p.2), (p.0, p.3)], style));
        chart.draw_series(bars).map_err(plot_error)?;
        let dots = points
            .iter()
            .map(|p| Circle::new((p.0, p.1), 3, style.filled()));
        chart.draw_series(dots).map_err(plot_error)?;
    }
    for (contender, p) in &grouped {
        // Beside the 16-connection column, so that both points show.
        let x = p.0 + 0.15;
        let style = colour(*contender).stroke_width(2);
        chart
            .draw_series([PathElement::new([(x, p.2), (x, p.3)], style)])
            .map_err(plot_error)?;
        chart
            .draw_series([Circle::new((x, p.1), 5, style)])
            .map_err(plot_error)?;
    }
    legend(&mut chart)
}
