//! Charts drawn on the server as SVG with `plotters` (SVG backend only).
//!
//! The SVG goes inline into the page, so the console's CSP (`img-src 'self'`,
//! no inline style) holds: plotters writes presentation attributes, not
//! `style`. Text is `<text font-family="sans-serif">`, drawn by the browser
//! with whatever sans-serif font it has; the server needs no font files
//! (without plotters' `ttf` feature, label sizes are estimated).

use plotters::{
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

/// Width and height of one chart in SVG units (it scales with the page).
const SIZE: (u32, u32) = (760, 260);
const LABEL_FONT: (&str, u32) = ("sans-serif", 16);
const GRID: RGBColor = RGBColor(0xe5, 0xe7, 0xeb);

/// The console's colours (the stylesheet's brand, good and bad).
pub const BLUE: RGBColor = RGBColor(0x1d, 0x4e, 0xd8);
pub const GREEN: RGBColor = RGBColor(0x15, 0x80, 0x3d);
pub const RED: RGBColor = RGBColor(0xb9, 0x1c, 0x1c);
pub const AMBER: RGBColor = RGBColor(0xd9, 0x77, 0x06);
pub const GREY: RGBColor = RGBColor(0x6b, 0x72, 0x80);

/// One plotted series: a name for the legend, a colour, one value per x.
pub struct Series {
    pub name: &'static str,
    pub color: RGBColor,
    pub values: Vec<i64>,
}

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

/// A y-axis top a little above `max` (at least 1, so an empty chart has an axis).
fn top(max: i64) -> i64 {
    let max = max.max(1);
    max + (max / 10).max(1)
}

/// Marks the SVG as one image for assistive technology, labelled `title`.
fn labelled(svg: String, title: &str) -> String {
    let title = title.replace(['"', '<', '>', '&'], "");
    svg.replacen("<svg ", &format!("<svg role=\"img\" aria-label=\"{title}\" "), 1)
}

/// Lines over `labels` (one x per label, e.g. days), one per series, with a legend.
pub fn lines(title: &str, labels: &[String], series: &[Series]) -> String {
    draw(title, |svg| {
        let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let last = (labels.len() as i32 - 1).max(1);
        let max = series.iter().flat_map(|s| s.values.iter().copied()).max().unwrap_or(0);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(0..last, 0..top(max))?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .axis_style(GREY)
            .x_labels(7)
            .x_label_formatter(&|i| labels.get(*i as usize).cloned().unwrap_or_default())
            .y_labels(5)
            .label_style(LABEL_FONT)
            .draw()?;
        for s in series {
            let color = s.color;
            chart
                .draw_series(LineSeries::new(
                    s.values.iter().enumerate().map(|(i, v)| (i as i32, *v)),
                    color.stroke_width(3),
                ))?
                .label(s.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(LABEL_FONT)
            .background_style(WHITE.mix(0.9))
            .border_style(GRID)
            .draw()?;
        root.present()?;
        Ok(())
    })
}

/// Stacked bars over `labels`: each series on top of the previous ones.
pub fn stacked_bars(title: &str, labels: &[String], series: &[Series]) -> String {
    draw(title, |svg| {
        let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let n = labels.len().max(1);
        let totals: Vec<i64> = (0..n)
            .map(|i| series.iter().map(|s| s.values.get(i).copied().unwrap_or(0)).sum())
            .collect();
        let max = totals.iter().copied().max().unwrap_or(0);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0..top(max))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .axis_style(GREY)
            .x_labels(7)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_labels(5)
            .label_style(LABEL_FONT)
            .draw()?;
        let half = 0.38;
        let mut base = vec![0i64; n];
        for s in series {
            let color = s.color;
            let bars: Vec<_> = s
                .values
                .iter()
                .enumerate()
                .filter(|(_, v)| **v > 0)
                .map(|(i, v)| {
                    let (x, from) = (i as f64, base[i]);
                    Rectangle::new([(x - half, from), (x + half, from + *v)], color.filled())
                })
                .collect();
            for (i, v) in s.values.iter().enumerate() {
                base[i] += v;
            }
            chart
                .draw_series(bars)?
                .label(s.name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(LABEL_FONT)
            .background_style(WHITE.mix(0.9))
            .border_style(GRID)
            .draw()?;
        root.present()?;
        Ok(())
    })
}

/// One bar per category (e.g. the email queue by status), each its own colour.
pub fn bars(title: &str, bars: &[(&str, i64, RGBColor)]) -> String {
    draw(title, |svg| {
        let root = SVGBackend::with_string(svg, (SIZE.0, 200)).into_drawing_area();
        root.fill(&WHITE)?;
        let n = bars.len().max(1);
        let max = bars.iter().map(|b| b.1).max().unwrap_or(0);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0..top(max))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .axis_style(GREY)
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    bars.get(i as usize).map(|b| b.0.to_string()).unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_labels(5)
            .label_style(LABEL_FONT)
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v, color))| {
            let x = i as f64;
            Rectangle::new([(x - 0.3, 0), (x + 0.3, *v)], color.filled())
        }))?;
        // Each bar's value above it, so a zero is seen as a zero.
        let value_style = TextStyle::from(LABEL_FONT).pos(Pos::new(HPos::Center, VPos::Bottom));
        chart.draw_series(
            bars.iter()
                .enumerate()
                .map(|(i, (_, v, _))| Text::new(v.to_string(), (i as f64, *v), value_style.clone())),
        )?;
        root.present()?;
        Ok(())
    })
}

/// Runs `f` on an empty SVG string; a drawing error is logged and leaves a
/// note instead of a chart (the numbers are on the page anyway).
fn draw(title: &str, f: impl FnOnce(&mut String) -> DrawResult<()>) -> String {
    let mut svg = String::new();
    match f(&mut svg) {
        Ok(()) => labelled(svg, title),
        Err(e) => {
            tracing::error!(chart = title, error = %e, "drawing a chart failed");
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: usize) -> Vec<String> {
        (1..=n).map(|d| format!("Dec {d:02}")).collect()
    }

    #[test]
    fn a_line_chart_is_an_svg_with_one_path_per_series_and_no_style_attribute() {
        let series = [
            Series {
                name: "Users",
                color: BLUE,
                values: vec![1, 3, 7],
            },
            Series {
                name: "Projects",
                color: GREEN,
                values: vec![0, 2, 2],
            },
        ];
        let svg = lines("Growth", &days(3), &series);
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\"Growth\""), "{svg}");
        assert!(svg.contains("Users") && svg.contains("Projects") && svg.contains("Dec 01"));
        let lines = svg.matches("stroke-width=\"3\"").count();
        assert_eq!(lines, 2 + 2, "two series, two legend marks: {svg}");
        assert!(!svg.contains("style="), "the CSP forbids inline style: {svg}");
    }

    #[test]
    fn stacked_bars_draw_a_rectangle_per_non_zero_value() {
        let series = [
            Series {
                name: "Signed in",
                color: GREEN,
                values: vec![2, 0, 5],
            },
            Series {
                name: "Failed",
                color: RED,
                values: vec![1, 0, 0],
            },
        ];
        let svg = stacked_bars("Sign-ins", &days(3), &series);
        // Three bars plus two legend swatches (the background is a rect too).
        let rects = svg.matches("<rect").count();
        assert!(rects >= 5, "{svg}");
        assert!(!svg.contains("style="), "{svg}");
    }

    #[test]
    fn empty_data_still_draws_axes() {
        let svg = bars("Queue", &[("Pending", 0, AMBER), ("Dead", 0, RED)]);
        assert!(svg.contains("Pending") && svg.contains("</svg>"), "{svg}");
    }
}
