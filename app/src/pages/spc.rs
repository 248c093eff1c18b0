//! `/spc`: the capability of every catalogue measurement of a product, worst Cpk
//! first, and the machine tags that can be charted. `/spc/chart`: one control chart
//! (the URL's query says which, see [`ChartQuery`]) with its limits, the rule
//! violations highlighted and listed, the capability panel and the frozen limit
//! versions; zooming redraws the chart in the browser.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{FreezeSpcLimits, get_spc_capability, get_spc_chart};
use crate::auth::Permission;
use crate::components::paged_table::CsvLink;
use crate::components::spc_chart::{control_chart_svg, window};
use crate::fmt::{format_number, format_time, query_string, server_message};
use crate::session::can;
use crate::spc::view::{
    CapabilityRow, CapabilityTable, ChartQuery, DEFAULT_BASELINE, LimitsOrigin, LimitsVersion,
    SpcChartView, episodes, rules_to_str,
};
use crate::spc::{Capability, ChartKind, Rule, RuleSet};

/// Cpk at or above this is capable (the usual automotive target).
const CAPABLE: f64 = 1.33;

/// The class of a Cpk: capable, marginal (1 to 1.33), not capable.
fn cpk_class(cpk: f64) -> &'static str {
    if cpk >= CAPABLE {
        "cpk cpk-ok"
    } else if cpk >= 1.0 {
        "cpk cpk-warn"
    } else {
        "cpk cpk-bad"
    }
}

fn fixed(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "—".into()
    }
}

fn opt_fixed(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| fixed(v, 2))
}

/// The link to a measurement's chart.
pub fn measurement_chart_href(product: &str, measurement: &str) -> String {
    format!(
        "/spc/chart{}",
        query_string(&[
            ("measurement", measurement.to_string()),
            ("product", product.to_string())
        ])
    )
}

/// The capability page (server only).
#[component]
pub fn SpcPage() -> impl IntoView {
    let product = use_query_map().with_untracked(|q| q.get("product").filter(|p| !p.is_empty()));
    let table = Resource::new(move || product.clone(), get_spc_capability);
    view! {
        <Title text="SPC · CellGuard"/>
        <section class="spc-page" aria-labelledby="spc-title">
            <Suspense fallback=|| view! { <p class="loading">"Loading the capability table…"</p> }>
                {move || table.get().map(|r| match r {
                    Ok(t) => view! { <CapabilityPage t=t/> }.into_any(),
                    Err(e) => view! {
                        <h1 id="spc-title">"Statistical process control"</h1>
                        <p class="error" role="alert" data-testid="spc-error">
                            {format!("The capability table is not available: {}", server_message(&e))}
                        </p>
                    }.into_any(),
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn CapabilityPage(t: CapabilityTable) -> impl IntoView {
    let export = format!(
        "/api/v1/export/spc-capability.csv{}",
        query_string(&[("product", t.product.clone())])
    );
    let product = t.product.clone();
    let mut machines: Vec<(String, Vec<crate::spc::view::TagRef>)> = Vec::new();
    for tag in t.tags {
        match machines.last_mut() {
            Some((m, tags)) if *m == tag.machine => tags.push(tag),
            _ => machines.push((tag.machine.clone(), vec![tag])),
        }
    }
    view! {
        <div class="page-head">
            <h1 id="spc-title">"Statistical process control"</h1>
            {CsvLink {
                href: Signal::stored(export),
                file: "spc-capability.csv",
                testid: "capability-export",
                label: "Download CSV",
            }
            .button()}
        </div>
        <form method="get" action="/spc" class="filters" aria-label="Choose the product">
            <label>"Product"
                <select name="product" data-testid="spc-product">
                    {t.products.into_iter().map(|(id, name)| {
                        let selected = id == t.product;
                        view! { <option value=id.clone() selected=selected>{format!("{name} ({id})")}</option> }
                    }).collect_view()}
                </select>
            </label>
            <div class="filter-actions"><button type="submit" class="button primary">"Show"</button></div>
        </form>
        <h2>"Capability, worst Cpk first"</h2>
        <p class="muted">
            {format!("Each measurement's newest {} values against the product's spec limits; σ within from the moving range (I-MR). Cpk ≥ {CAPABLE} is capable.", t.values)}
        </p>
        <div class="table-scroll" role="region" aria-label="Capability table" tabindex="0">
            <table class="cells-table capability-table" data-testid="capability-table">
                <thead>
                    <tr>
                        <th scope="col">"Measurement"</th>
                        <th scope="col">"Stage"</th>
                        <th scope="col">"n"</th>
                        <th scope="col">"Mean"</th>
                        <th scope="col">"Cp"</th>
                        <th scope="col">"Cpk"</th>
                        <th scope="col">"Cpk 95 %"</th>
                        <th scope="col">"Pp"</th>
                        <th scope="col">"Ppk"</th>
                        <th scope="col">"Normal?"</th>
                    </tr>
                </thead>
                <tbody>
                    {t.rows.into_iter().map(|r| view! { <CapabilityLine r=r product=product.clone()/> }).collect_view()}
                </tbody>
            </table>
        </div>
        <h2>"Machine tags"</h2>
        <p class="muted">"Individuals charts of a tag's interval means, from the historian."</p>
        <div class="tag-charts" data-testid="spc-tags">
            {machines.into_iter().map(|(machine, tags)| view! {
                <div class="tag-chart-group">
                    <h3>{machine.clone()}</h3>
                    <ul>
                        {tags.into_iter().map(|t| {
                            let href = format!("/spc/chart{}", query_string(&[("machine", t.machine.clone()), ("tag", t.tag.clone())]));
                            view! { <li><a href=href>{t.label}</a>" "<span class="muted">{t.unit}</span></li> }
                        }).collect_view()}
                    </ul>
                </div>
            }).collect_view()}
        </div>
    }
}

#[component]
fn CapabilityLine(r: CapabilityRow, product: String) -> impl IntoView {
    let href = measurement_chart_href(&product, &r.measurement);
    let label =
        view! { <a href=href>{r.label.clone()}</a>" "<span class="muted">{r.unit.clone()}</span> };
    let cells = match r.capability {
        Some(c) => {
            let normal = if c.normality.normal {
                format!("yes (p {})", fixed(c.normality.p_value, 2))
            } else {
                format!("no (p {})", fixed(c.normality.p_value, 3))
            };
            view! {
                <td>{fixed(c.mean, 4)}</td>
                <td>{opt_fixed(c.cp)}</td>
                <td><span class=cpk_class(c.cpk) data-testid="cpk">{fixed(c.cpk, 2)}</span></td>
                <td>{format!("{} – {}", fixed(c.cpk_ci.low, 2), fixed(c.cpk_ci.high, 2))}</td>
                <td>{opt_fixed(c.pp)}</td>
                <td>{fixed(c.ppk, 2)}</td>
                <td class=if c.normality.normal { "" } else { "warn" } title=c.note.clone().unwrap_or_default()>{normal}</td>
            }
            .into_any()
        }
        None => view! {
            <td colspan="7" class="muted">{r.note.clone().unwrap_or_default()}</td>
        }
        .into_any(),
    };
    view! {
        <tr data-testid="capability-row" data-measurement=r.measurement.clone()>
            <th scope="row">{label}</th>
            <td>{r.stage}</td>
            <td>{r.n}</td>
            {cells}
        </tr>
    }
}

/// The chart page (server only; the chart itself is an island).
#[component]
pub fn SpcChartPage() -> impl IntoView {
    let parsed = use_query_map().with_untracked(|q| ChartQuery::from_pairs(|k| q.get(k)));
    let query = match parsed {
        Ok(q) => q,
        Err(e) => {
            return view! {
                <Title text="SPC chart · CellGuard"/>
                <section class="spc-page">
                    <h1>"Control chart"</h1>
                    <p class="error" role="alert" data-testid="spc-error">{format!("{} {}", e.field, e.reason)}</p>
                    <p><a href="/spc">"← Capability table"</a></p>
                </section>
            }
            .into_any();
        }
    };
    let chart = Resource::new(move || query.clone(), get_spc_chart);
    view! {
        <Title text="SPC chart · CellGuard"/>
        <section class="spc-page" aria-labelledby="spc-chart-title">
            <Suspense fallback=|| view! { <p class="loading">"Loading the chart…"</p> }>
                {move || chart.get().map(|r| match r {
                    Ok(v) => view! { <ChartPage v=v/> }.into_any(),
                    Err(e) => view! {
                        <h1 id="spc-chart-title">"Control chart"</h1>
                        <p class="error" role="alert" data-testid="spc-error">
                            {format!("The chart is not available: {}", server_message(&e))}
                        </p>
                        <p><a href="/spc">"← Capability table"</a></p>
                    }.into_any(),
                })}
            </Suspense>
        </section>
    }
    .into_any()
}

/// The query with rule `rule` switched.
fn toggled(q: &ChartQuery, current: &RuleSet, rule: Rule) -> String {
    let mut rules = *current;
    rules.set(rule, !rules.is_on(rule));
    let q = ChartQuery {
        rules: Some(rules_to_str(&rules)),
        ..q.clone()
    };
    format!("/spc/chart?{}", q.to_query())
}

#[component]
fn ChartPage(v: SpcChartView) -> impl IntoView {
    let q = v.query.clone();
    let back = match &q.measurement {
        Some(_) => format!(
            "/spc{}",
            query_string(&[("product", q.product.clone().unwrap_or_default())])
        ),
        None => "/spc".to_string(),
    };
    let export = format!("/api/v1/export/spc-chart.csv?{}", q.to_query());
    let subtitle = match &v.grouping {
        Some(g) => format!("{} chart · subgroups of {g}", v.kind.label()),
        None => format!("{} chart", v.kind.label()),
    };
    let rules = v.rules;
    let rule_links = Rule::ALL
        .into_iter()
        .map(|r| {
            let on = rules.is_on(r);
            view! {
                <a class=if on { "rule-toggle on" } else { "rule-toggle" } href=toggled(&q, &rules, r)
                   aria-pressed=if on { "true" } else { "false" } title=r.describe() data-testid="rule-toggle" data-rule=r.code()>
                    {r.code()}
                </a>
            }
        })
        .collect_view();
    let can_freeze = can(Permission::ManageSpcLimits);
    view! {
        <p class="breadcrumb"><a href=back>"← Capability table"</a></p>
        <div class="page-head">
            <div>
                <h1 id="spc-chart-title" data-testid="spc-chart-title">{v.title.clone()}</h1>
                <p class="muted">{subtitle}{format!(" · {} values", v.values)}</p>
            </div>
            {CsvLink {
                href: Signal::stored(export),
                file: "spc-chart.csv",
                testid: "chart-export",
                label: "Download CSV",
            }
            .button()}
        </div>
        <ChartControls q=q.clone() kind=v.kind/>
        <div class="rule-toggles" role="group" aria-label="Run rules">
            <span class="rule-toggles-label">"Rules"</span>
            {rule_links}
        </div>
        {v.error.clone().map(|e| view! { <p class="error" role="alert" data-testid="chart-error">{e}</p> })}
        <div class="spc-layout">
            <SpcChart view=v.clone() can_freeze=can_freeze/>
            <aside class="spc-side">
                <LimitsPanel v=v.clone()/>
                <CapabilityPanel c=v.capability.clone() note=v.capability_note.clone() unit=v.unit.clone()/>
            </aside>
        </div>
        <Versions versions=v.versions.clone()/>
    }
}

#[component]
fn ChartControls(q: ChartQuery, kind: ChartKind) -> impl IntoView {
    let is_tag = q.machine.is_some();
    let hidden = [
        ("measurement", q.measurement.clone()),
        ("product", q.product.clone()),
        ("machine", q.machine.clone()),
        ("tag", q.tag.clone()),
        ("rules", q.rules.clone()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| view! { <input type="hidden" name=k value=v/> }))
    .collect_view();
    let kinds: Vec<ChartKind> = if is_tag {
        vec![ChartKind::IMr]
    } else {
        ChartKind::ALL.to_vec()
    };
    let by = q.by.clone().unwrap_or_default();
    let num = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
    view! {
        <form method="get" action="/spc/chart" class="filters spc-controls" aria-label="Chart settings">
            {hidden}
            <label>"Chart"
                <select name="kind" data-testid="chart-kind">
                    {kinds.into_iter().map(|k| view! { <option value=k.slug() selected=k == kind>{k.label()}</option> }).collect_view()}
                </select>
            </label>
            {(!is_tag).then(|| view! {
                <label>"Subgroups (X̄-R, X̄-S)"
                    <select name="by" data-testid="chart-by">
                        <option value="" selected=by.is_empty()>"n cells"</option>
                        <option value="lot" selected=by == "lot">"Lot"</option>
                        <option value="order" selected=by == "order">"Order"</option>
                    </select>
                </label>
                <label>"n" <input type="number" name="n" min="2" max="25" inputmode="numeric" value=num(q.n) placeholder="5"/></label>
            })}
            <label>"Baseline: first" <input type="number" name="baseline_first" min="2" inputmode="numeric" value=num(q.baseline_first) placeholder="frozen or 25" data-testid="baseline-first"/></label>
            <label>"Values" <input type="number" name="values" min="2" max="20000" inputmode="numeric" value=num(q.values) placeholder="newest"/></label>
            <div class="filter-actions"><button type="submit" class="button primary" data-testid="chart-draw">"Draw"</button></div>
        </form>
    }
}

#[component]
fn LimitsPanel(v: SpcChartView) -> impl IntoView {
    let origin = match &v.origin {
        Some(LimitsOrigin::Frozen(n)) => {
            let by = v
                .versions
                .iter()
                .find(|x| x.version == *n)
                .map(|x| format!(" by {} on {}", x.by, format_time(x.frozen_ms)))
                .unwrap_or_default();
            format!("Frozen limits, version {n}{by}")
        }
        Some(LimitsOrigin::Baseline(b)) => format!("Computed from {b} (not frozen)"),
        None => "No limits".to_string(),
    };
    let last = v.chart.as_ref().and_then(|c| c.points.last().cloned());
    let sigma = v.chart.as_ref().map(|c| c.limits.sigma);
    view! {
        <section class="panel spc-limits" data-testid="spc-limits" aria-label="Control limits">
            <h2>"Limits"</h2>
            <p data-testid="limits-origin">{origin}</p>
            {last.map(|p| view! {
                <dl class="facts">
                    <dt>"UCL"</dt><dd data-testid="ucl">{format_number(p.ucl)}</dd>
                    <dt>"Centre"</dt><dd data-testid="centre">{format_number(p.centre)}</dd>
                    <dt>"LCL"</dt><dd data-testid="lcl">{format_number(p.lcl)}</dd>
                    <dt>"σ̂"</dt><dd>{sigma.map(format_number).unwrap_or_default()}</dd>
                </dl>
            })}
            {v.spec.map(|s| view! {
                <p class="muted">{format!("Spec: {} to {} {}", opt_fixed(s.lsl), opt_fixed(s.usl), v.unit)}</p>
            })}
        </section>
    }
}

#[component]
fn CapabilityPanel(c: Option<Capability>, note: Option<String>, unit: String) -> impl IntoView {
    let body = match c {
        Some(c) => view! {
            <dl class="facts">
                <dt>"Cpk"</dt><dd><span class=cpk_class(c.cpk) data-testid="chart-cpk">{fixed(c.cpk, 2)}</span></dd>
                <dt>"Cpk 95 %"</dt><dd>{format!("{} – {}", fixed(c.cpk_ci.low, 2), fixed(c.cpk_ci.high, 2))}</dd>
                <dt>"Cp"</dt><dd>{opt_fixed(c.cp)}</dd>
                <dt>"Ppk"</dt><dd>{fixed(c.ppk, 2)}</dd>
                <dt>"Pp"</dt><dd>{opt_fixed(c.pp)}</dd>
                <dt>"n"</dt><dd>{c.n}</dd>
                <dt>"Mean"</dt><dd>{format!("{} {unit}", fixed(c.mean, 4))}</dd>
                <dt>"σ within / overall"</dt><dd>{format!("{} / {}", fixed(c.sigma_within, 4), fixed(c.sigma_overall, 4))}</dd>
                <dt>"Anderson–Darling"</dt><dd>{format!("A² {}, p {}", fixed(c.normality.a2, 3), fixed(c.normality.p_value, 3))}</dd>
            </dl>
            {c.note.map(|n| view! { <p class="warn" data-testid="normality-note">{n}</p> })}
        }
        .into_any(),
        None => view! { <p class="muted">{note.unwrap_or_default()}</p> }.into_any(),
    };
    view! {
        <section class="panel spc-capability" data-testid="spc-capability" aria-label="Capability">
            <h2>"Capability"</h2>
            {body}
        </section>
    }
}

#[component]
fn Versions(versions: Vec<LimitsVersion>) -> impl IntoView {
    if versions.is_empty() {
        return view! {
            <h2>"Frozen limits"</h2>
            <p class="muted" data-testid="no-versions">"No limits frozen for this chart yet: its limits come from the baseline, and it raises no alarm."</p>
        }
        .into_any();
    }
    view! {
        <h2>"Frozen limits"</h2>
        <p class="muted">"The newest version applies, and its rule violations raise SPC alarms."</p>
        <div class="table-scroll" role="region" aria-label="Frozen limit versions" tabindex="0">
            <table class="cells-table" data-testid="versions">
                <thead><tr>
                    <th scope="col">"Version"</th><th scope="col">"Frozen"</th><th scope="col">"By"</th>
                    <th scope="col">"Centre"</th><th scope="col">"σ̂"</th><th scope="col">"Baseline"</th>
                    <th scope="col">"Rules"</th><th scope="col">"Why"</th>
                </tr></thead>
                <tbody>
                    {versions.into_iter().map(|x| view! {
                        <tr data-testid="version" data-version=x.version.to_string()>
                            <td>{x.version}</td>
                            <td class="col-time">{format_time(x.frozen_ms)}</td>
                            <td>{x.by}</td>
                            <td>{format_number(x.limits.centre)}</td>
                            <td>{format_number(x.limits.sigma)}</td>
                            <td>{x.baseline}</td>
                            <td>{rules_to_str(&x.rules)}</td>
                            <td>{x.note}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Points shown at first: the newest ones, so a long chart opens where the process is.
const FIRST_WINDOW: usize = 200;
/// Points either side of a violation when it is shown.
const AROUND: usize = 10;
/// Episodes listed at most (the newest).
const MAX_EPISODES: usize = 50;

/// The chart, its dispersion chart and the violations: zooming (a range of points, a
/// violation's points) redraws both in the browser; an engineer may freeze the limits.
#[island(lazy)]
fn SpcChart(view: SpcChartView, can_freeze: bool) -> impl IntoView {
    let v = StoredValue::new(view);
    let (n, first_index) = v.with_value(|v| {
        let pts = v.chart.as_ref().map(|c| c.points.as_slice()).unwrap_or(&[]);
        (pts.len(), pts.first().map_or(0, |p| p.index))
    });
    let last_index = first_index + n.saturating_sub(1);
    let from = RwSignal::new(last_index.saturating_sub(FIRST_WINDOW - 1).max(first_index));
    let to = RwSignal::new(last_index);
    let flagged: StoredValue<Vec<bool>> = StoredValue::new(v.with_value(|v| {
        let mut f = vec![false; last_index + 1];
        for x in &v.violations {
            for &i in &x.points {
                if let Some(b) = f.get_mut(i) {
                    *b = true;
                }
            }
        }
        f
    }));
    let main_svg = move || {
        let (a, b) = (from.get(), to.get());
        v.with_value(|v| {
            let pts = v.chart.as_ref().map(|c| c.points.as_slice()).unwrap_or(&[]);
            flagged.with_value(|f| {
                control_chart_svg(
                    window(pts, a, b),
                    &|i| f.get(i).copied().unwrap_or(false),
                    &v.unit,
                    (960, 340),
                )
            })
        })
    };
    let spread_label = v.with_value(|v| match v.kind {
        ChartKind::IMr => Some("Moving range"),
        ChartKind::XbarR => Some("Range"),
        ChartKind::XbarS => Some("Standard deviation"),
        ChartKind::P | ChartKind::Np => None,
    });
    let spread_svg = move || {
        let (a, b) = (from.get(), to.get());
        v.with_value(|v| {
            let pts = v.chart.as_ref().map(|c| c.spread.as_slice()).unwrap_or(&[]);
            control_chart_svg(window(pts, a, b), &|_| false, &v.unit, (960, 200))
        })
    };
    let zoom = move |a: usize, b: usize| {
        from.set(a.max(first_index).min(last_index));
        to.set(b.max(first_index).min(last_index));
    };
    let all = v.with_value(|v| episodes(&v.violations));
    let count = v.with_value(|v| v.violations.len());
    let shown_episodes = all.len().min(MAX_EPISODES);
    let episode_count = all.len();
    let violations = v.with_value(|v| {
        all.into_iter()
            .take(MAX_EPISODES)
            .map(|e| {
                let label = |i: usize| v.meta.get(i).map(|m| m.label.clone()).unwrap_or_default();
                let when = v
                    .meta
                    .get(e.last)
                    .map(|m| format_time(m.ts_ms))
                    .unwrap_or_default();
                let (first, last) = (label(e.first), label(e.last));
                let points = if e.first == e.last {
                    format!("point {} ({first})", e.first + 1)
                } else {
                    format!("points {}–{} ({first} … {last})", e.first + 1, e.last + 1)
                };
                let times = if e.violations > 1 {
                    format!(" · {} times", e.violations)
                } else {
                    String::new()
                };
                (e.rule, e.first, e.last, format!("{points}{times}"), when)
            })
            .collect::<Vec<_>>()
    });
    let freeze = ServerAction::<FreezeSpcLimits>::new();
    let note = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(_)) = freeze.value().get() {
            crate::nav::reload();
        }
    });
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let next_version = v.with_value(|v| v.versions.first().map_or(1, |x| x.version + 1));
    // What a freeze stores: the limits shown when they come from a baseline; when the
    // chart shows frozen limits, new ones from the default baseline (never a copy).
    let freeze_label = v.with_value(|v| match &v.origin {
        Some(LimitsOrigin::Baseline(b)) => {
            format!("Freeze these limits (from {b}) as version {next_version}: why?")
        }
        _ => format!(
            "Freeze new limits, from the first {DEFAULT_BASELINE} points shown, as version {next_version}: why?"
        ),
    });
    let query = v.with_value(|v| v.query.clone());
    let freeze_form = can_freeze.then(|| view! {
        <form class="freeze" data-testid="freeze-form" on:submit=move |e| {
            e.prevent_default();
            freeze.dispatch(FreezeSpcLimits { query: query.clone(), note: note.get_untracked() });
        }>
            <label>{freeze_label}
                <input type="text" required maxlength="500" placeholder="e.g. new baseline after the coater change"
                    prop:value=move || note.get() on:input=move |e| note.set(event_target_value(&e)) data-testid="freeze-note"/>
            </label>
            <button type="submit" class="button primary" data-testid="freeze" disabled=move || freeze.pending().get()>"Freeze limits"</button>
            {move || match freeze.value().get() {
                Some(Err(e)) => Some(view! { <p class="error" role="alert" data-testid="freeze-error">{server_message(&e)}</p> }),
                _ => None,
            }}
        </form>
    });
    view! {
        <div class="spc-main" data-testid="spc-chart" data-hydrated=move || hydrated.get().to_string() data-violations=count.to_string()>
            <figure class="chart">
                <figcaption>
                    <span class="chart-title">{v.with_value(|v| v.kind.label())}</span>
                    <span class="muted" data-testid="zoom-range">{move || format!("points {}–{} of {n}", from.get() + 1, to.get() + 1)}</span>
                </figcaption>
                <div class="chart-svg" inner_html=main_svg data-testid="spc-svg"></div>
            </figure>
            {spread_label.map(|label| view! {
                <figure class="chart">
                    <figcaption><span class="chart-title">{label}</span></figcaption>
                    <div class="chart-svg" inner_html=spread_svg></div>
                </figure>
            })}
            <div class="zoom" role="group" aria-label="Zoom">
                <label>"From point"
                    <input type="range" min=first_index max=last_index prop:value=move || from.get().to_string()
                        on:input=move |e| {
                            if let Ok(a) = event_target_value(&e).parse::<usize>() {
                                zoom(a, to.get_untracked().max(a));
                            }
                        } data-testid="zoom-from"/>
                </label>
                <label>"To point"
                    <input type="range" min=first_index max=last_index prop:value=move || to.get().to_string()
                        on:input=move |e| {
                            if let Ok(b) = event_target_value(&e).parse::<usize>() {
                                zoom(from.get_untracked().min(b), b);
                            }
                        } data-testid="zoom-to"/>
                </label>
                <button type="button" class="button" on:click=move |_| zoom(last_index.saturating_sub(49), last_index)>"Last 50"</button>
                <button type="button" class="button" on:click=move |_| zoom(last_index.saturating_sub(FIRST_WINDOW - 1), last_index)>{format!("Last {FIRST_WINDOW}")}</button>
                <button type="button" class="button" on:click=move |_| zoom(first_index, last_index) data-testid="zoom-all">"All"</button>
            </div>
            {freeze_form}
            <h2>{format!("Rule violations: {count} in {episode_count} episodes")}</h2>
            {(episode_count > shown_episodes).then(|| view! {
                <p class="muted">{format!("The newest {shown_episodes} episodes; the CSV has every point and its rules.")}</p>
            })}
            {if violations.is_empty() {
                view! { <p class="muted" data-testid="no-violations">"No rule that is on is broken by the points shown."</p> }.into_any()
            } else {
                view! {
                    <ul class="violations" data-testid="violations">
                        {violations.into_iter().map(|(rule, lo, at, points, when)| view! {
                            <li data-testid="violation" data-rule=rule.code()>
                                <b class="rule-code">{rule.code()}</b>" "
                                <span>{rule.describe()}</span>" · "
                                <span>{points}</span>" · "
                                <span class="muted">{when}</span>" "
                                <button type="button" class="button small" on:click=move |_| zoom(lo.saturating_sub(AROUND), at + AROUND)>"Show"</button>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_link_switches_one_rule_and_keeps_the_rest_of_the_query() {
        let q = ChartQuery {
            measurement: Some("capacity".into()),
            product: Some("HC".into()),
            ..ChartQuery::default()
        };
        let href = toggled(&q, &RuleSet::nelson(), Rule::N1);
        assert_eq!(
            href,
            "/spc/chart?measurement=capacity&product=HC&rules=N2%2CN3%2CN4%2CN5%2CN6%2CN7%2CN8"
        );
        assert_eq!(
            toggled(&q, &RuleSet::none(), Rule::WE1),
            "/spc/chart?measurement=capacity&product=HC&rules=WE1"
        );
        assert_eq!(cpk_class(1.5), "cpk cpk-ok");
        assert_eq!(cpk_class(1.1), "cpk cpk-warn");
        assert_eq!(cpk_class(0.4), "cpk cpk-bad");
        assert_eq!(
            measurement_chart_href("HC", "ocv"),
            "/spc/chart?measurement=ocv&product=HC"
        );
    }
}
