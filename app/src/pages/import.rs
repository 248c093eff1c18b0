//! `/import`: bring cells and inspections in from a file (CSV or Excel .xlsx).
//! "Check" sends the file as a dry run and shows what would happen, or every problem
//! with its row and column; only "Import" writes.
//!
//! The heading and the explanation are server HTML; the form and what it answers
//! (preview, problems, result) are one island, [`ImportForm`].

use leptos::prelude::*;
use leptos_meta::Title;
use serde::Deserialize;

use crate::auth::Permission;
use crate::fmt::encode_query_value;
use crate::quality::ImportReport;
use crate::session::{NotAllowed, can};

/// One problem in the file, as the import endpoint reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RowProblem {
    /// Row as a spreadsheet numbers it (header = 1); 0 for the whole file.
    pub row: u64,
    /// Column, when the problem is in one cell.
    #[serde(default)]
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// The body of a 422 answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RowProblems {
    /// The problems, in file order.
    pub errors: Vec<RowProblem>,
    /// More problems exist than listed.
    #[serde(default)]
    pub truncated: bool,
}

/// Where the page is.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportState {
    /// Nothing checked yet (or a new file chosen).
    Idle,
    /// A request is on its way.
    Busy {
        /// Import (true) or check (false).
        writing: bool,
    },
    /// The dry run passed: what an import would do.
    Preview(ImportReport),
    /// The file has problems; nothing was written.
    Invalid(RowProblems),
    /// Written.
    Done(ImportReport),
    /// Anything else; nothing is known to be written.
    Failed(String),
}

/// The URL of the import endpoint for a file name.
pub fn import_url(name: &str, dry_run: bool) -> String {
    format!(
        "/api/v1/imports?name={}&dry_run={dry_run}",
        encode_query_value(name)
    )
}

/// What an answer of the import endpoint means for the page.
pub fn interpret(status: u16, body: &str, dry_run: bool) -> ImportState {
    match status {
        200 => match serde_json::from_str::<ImportReport>(body) {
            Ok(r) if dry_run => ImportState::Preview(r),
            Ok(r) => ImportState::Done(r),
            Err(e) => ImportState::Failed(format!("The server's answer could not be read: {e}")),
        },
        422 => match serde_json::from_str::<RowProblems>(body) {
            Ok(p) => ImportState::Invalid(p),
            Err(_) => ImportState::Failed(format!("The file was refused: {}", short(body))),
        },
        413 => ImportState::Failed(
            "The file is too large to import in one go. Split it into smaller files.".into(),
        ),
        _ => ImportState::Failed(format!(
            "The import failed (HTTP {status}){}",
            if body.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", short(body))
            }
        )),
    }
}

fn short(body: &str) -> String {
    let t = body.trim();
    match t.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_owned(),
    }
}

/// The link to the cells of one imported lot.
pub fn lots_href(lot: &str) -> String {
    format!("/cells?lot={}", encode_query_value(lot))
}

/// The import page (server only): who may import is decided here.
#[component]
pub fn ImportPage() -> impl IntoView {
    if !can(Permission::ImportData) {
        return view! { <NotAllowed what="import data"/> }.into_any();
    }
    view! {
        <Title text="Import · CellGuard"/>
        <section class="import-page" aria-labelledby="import-title">
            <h1 id="import-title">"Import cells"</h1>
            <p class="muted">
                "A CSV or Excel (.xlsx) file with one row per cell: serial, lot, order, optional product and produced_at, "
                "measurement columns by name, optional label. Check it first; nothing is written until you press Import."
            </p>
            <ImportForm/>
        </section>
    }
    .into_any()
}

/// The file, "Check" and "Import", and what the server answered.
#[island(lazy)]
fn ImportForm() -> impl IntoView {
    let state = RwSignal::new(ImportState::Idle);
    let file_name = RwSignal::new(None::<String>);
    let input: NodeRef<leptos::html::Input> = NodeRef::new();
    // Bumped when another file is chosen: an answer about the previous file is dropped,
    // so "Import" can only follow a check of the file it sends.
    let generation = StoredValue::new(0u64);
    let send = move |dry_run: bool| {
        #[cfg(feature = "hydrate")]
        {
            let Some(file) = input
                .get_untracked()
                .and_then(|i| i.files())
                .and_then(|f| f.get(0))
            else {
                state.set(ImportState::Failed("Choose a file first.".into()));
                return;
            };
            state.set(ImportState::Busy { writing: !dry_run });
            let asked = generation.get_value();
            leptos::task::spawn_local(async move {
                let next = upload(file, dry_run).await;
                if generation.try_get_value() == Some(asked) {
                    state.try_set(next);
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (dry_run, input, state, generation);
    };
    let on_change = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let name = input
                .get_untracked()
                .and_then(|i| i.files())
                .and_then(|f| f.get(0))
                .map(|f| f.name());
            file_name.set(name);
        }
        // A new file needs a new check before it can be imported.
        generation.update_value(|g| *g += 1);
        state.set(ImportState::Idle);
    };
    let busy = move || matches!(state.get(), ImportState::Busy { .. });
    let hydrated = crate::live::use_hydrated();
    view! {
        <div class="panel import-form" data-testid="import-island" data-hydrated=move || hydrated.get().to_string()>
            <label class="file-pick">
                <span>"File"</span>
                <input
                    type="file"
                    node_ref=input
                    accept=".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                    on:change=on_change
                    data-testid="import-file"
                />
            </label>
            <div class="filter-actions">
                <button
                    class="button primary"
                    data-testid="check"
                    disabled=move || busy() || file_name.get().is_none()
                    on:click=move |_| send(true)
                >
                    "Check"
                </button>
                {move || matches!(state.get(), ImportState::Preview(_)).then(|| view! {
                    <button class="button primary" data-testid="import" disabled=busy on:click=move |_| send(false)>
                        "Import"
                    </button>
                })}
            </div>
        </div>
        <div aria-live="polite">{move || view! { <Outcome state=state.get()/> }}</div>
    }
}

#[cfg(feature = "hydrate")]
async fn upload(file: web_sys::File, dry_run: bool) -> ImportState {
    let url = import_url(&file.name(), dry_run);
    let request = match gloo_net::http::Request::post(&url)
        .header("Content-Type", "application/octet-stream")
        .body(file)
    {
        Ok(r) => r,
        Err(e) => return ImportState::Failed(format!("The file could not be sent: {e}")),
    };
    match request.send().await {
        Ok(resp) => {
            let body = resp.text().await.unwrap_or_default();
            interpret(resp.status(), &body, dry_run)
        }
        Err(e) => ImportState::Failed(format!("The server could not be reached: {e}")),
    }
}

#[component]
fn Outcome(state: ImportState) -> impl IntoView {
    match state {
        ImportState::Idle => ().into_any(),
        ImportState::Busy { writing } => view! {
            <p class="loading" role="status">{if writing { "Importing…" } else { "Checking the file…" }}</p>
        }
        .into_any(),
        ImportState::Preview(r) => view! {
            <section class="panel" data-testid="preview">
                <h2>"Check passed: nothing written yet"</h2>
                <ReportFigures r=r.clone() would=true/>
                <PreviewRows r=r/>
                <p class="notice">"Press Import to write these cells."</p>
            </section>
        }
        .into_any(),
        ImportState::Done(r) => view! {
            <section class="panel done" data-testid="import-done" role="status">
                <h2>{if r.committed { "Imported" } else { "Nothing was written" }}</h2>
                <ReportFigures r=r.clone() would=false/>
                <LotLinks lots=r.lots/>
            </section>
        }
        .into_any(),
        ImportState::Invalid(p) => view! { <Problems p=p/> }.into_any(),
        ImportState::Failed(msg) => view! { <p class="error" role="alert">{msg}</p> }.into_any(),
    }
}

#[component]
fn ReportFigures(r: ImportReport, would: bool) -> impl IntoView {
    let verb = if would { "would be written" } else { "written" };
    view! {
        <dl class="lot-counts report">
            <div><dt>"Rows"</dt><dd data-testid="rows">{r.rows}</dd></div>
            <div><dt>"New cells"</dt><dd>{r.new_cells}</dd></div>
            <div><dt>{format!("Inspections {verb}")}</dt><dd>{r.inspections}</dd></div>
            <div><dt>"Already present"</dt><dd>{r.duplicates}</dd></div>
            <div><dt>"Lots"</dt><dd>{r.lots.len()}</dd></div>
        </dl>
        {(!r.lots.is_empty()).then(|| view! { <p class="muted">{format!("Lots: {}", r.lots.join(", "))}</p> })}
    }
}

#[component]
fn PreviewRows(r: ImportReport) -> impl IntoView {
    if r.preview.is_empty() {
        return ().into_any();
    }
    view! {
        <h3>"First rows"</h3>
        <table class="preview">
            <thead>
                <tr><th scope="col">"Serial"</th><th scope="col">"Lot"</th><th scope="col">"Order"</th><th scope="col" class="col-num">"Measurements"</th></tr>
            </thead>
            <tbody>
                {r.preview.into_iter().map(|(serial, lot, order, n)| view! {
                    <tr><td>{serial}</td><td>{lot}</td><td>{order}</td><td class="col-num">{n}</td></tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn LotLinks(lots: Vec<String>) -> impl IntoView {
    const SHOWN: usize = 20;
    let more = lots.len().saturating_sub(SHOWN);
    view! {
        <div class="lot-links">
            {lots.into_iter().take(SHOWN).map(|lot| view! {
                <a href=lots_href(&lot) class="button" data-testid="lot-link">{format!("Cells of lot {lot}")}</a>
            }).collect_view()}
            {(more > 0).then(|| view! { <a href="/cells" class="button">{format!("All cells ({more} more lots)")}</a> })}
        </div>
    }
}

#[component]
fn Problems(p: RowProblems) -> impl IntoView {
    let count = p.errors.len();
    view! {
        <section class="panel problems" data-testid="problems" role="alert">
            <h2>{format!("The file was not imported: {count} problem{}{}", if count == 1 { "" } else { "s" }, if p.truncated { " (and more not listed)" } else { "" })}</h2>
            <p>"Nothing was written. Correct the file and check it again."</p>
            <table>
                <thead><tr><th scope="col" class="col-num">"Row"</th><th scope="col">"Column"</th><th scope="col">"Problem"</th></tr></thead>
                <tbody>
                    {p.errors.into_iter().map(|e| view! {
                        <tr>
                            <td class="col-num">{if e.row == 0 { "file".to_owned() } else { e.row.to_string() }}</td>
                            <td>{e.column.unwrap_or_else(|| "—".into())}</td>
                            <td>{e.message}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passed_check_is_a_preview_and_an_import_is_done() {
        let body = r#"{"committed":false,"rows":3,"new_cells":3,"inspections":9,"duplicates":0,
            "lots":["L1"],"preview":[["S1","L1","O1",21]]}"#;
        match interpret(200, body, true) {
            ImportState::Preview(r) => {
                assert_eq!(r.rows, 3);
                assert_eq!(r.preview[0].3, 21);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(interpret(200, body, false), ImportState::Done(_)));
    }

    #[test]
    fn problems_are_listed_with_row_and_column() {
        let body = r#"{"errors":[{"row":12,"column":"k_value","message":"not a number"},
            {"row":0,"column":null,"message":"no serial column"}],"truncated":true}"#;
        match interpret(422, body, true) {
            ImportState::Invalid(p) => {
                assert_eq!(p.errors.len(), 2);
                assert_eq!(p.errors[0].column.as_deref(), Some("k_value"));
                assert_eq!(p.errors[1].column, None);
                assert!(p.truncated);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_answers_say_what_happened() {
        match interpret(413, "", true) {
            ImportState::Failed(m) => assert!(m.contains("too large"), "{m}"),
            other => panic!("{other:?}"),
        }
        match interpret(500, "database locked", false) {
            ImportState::Failed(m) => assert!(m.contains("500") && m.contains("database locked")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            interpret(200, "<html>", true),
            ImportState::Failed(_)
        ));
        assert!(matches!(
            interpret(422, "bad", true),
            ImportState::Failed(_)
        ));
        let long = "x".repeat(1000);
        match interpret(400, &long, true) {
            ImportState::Failed(m) => assert!(m.chars().count() < 400),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_file_name_is_encoded_in_the_url() {
        assert_eq!(
            import_url("cells 2026.xlsx", false),
            "/api/v1/imports?name=cells%202026.xlsx&dry_run=false"
        );
    }
}
