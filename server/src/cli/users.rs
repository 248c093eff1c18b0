//! `cellguard user …` and `cellguard token …`: managing access from the shell of
//! the machine CellGuard runs on. Every change is audited as `cli:<login>`.

use std::io::BufRead as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use app::auth::{AuditAction, Role, Scope};

use super::{TokenCommand, UserCommand};
use crate::audit::AuditEvent;
use crate::auth::Access;
use crate::storage::sqlite::SqliteStore;

async fn open(data_dir: &Path) -> anyhow::Result<Access> {
    let sqlite = SqliteStore::open_in(data_dir)
        .await
        .with_context(|| format!("opening the database in {}", data_dir.display()))?;
    Ok(Access::new(sqlite.pool().clone()))
}

fn actor() -> String {
    let login = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{login}")
}

/// Records a change made from the command line.
pub(crate) async fn audit(
    access: &Access,
    action: AuditAction,
    target: &str,
    detail: String,
) -> anyhow::Result<()> {
    access
        .audit
        .record(AuditEvent {
            actor: actor(),
            role: None,
            action,
            target: target.to_owned(),
            detail,
            source: "local".into(),
        })
        .await
        .context("writing the audit trail")
}

fn role(s: &str) -> anyhow::Result<Role> {
    Role::parse(s).with_context(|| {
        let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("unknown role {s:?}; one of: {}", all.join(", "))
    })
}

/// The password: the first line of standard input, or prompted twice on the terminal.
fn password(name: &str, from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password(format!("Password for {name}: "))
        .context("reading the password (use --password-stdin without a terminal)")?;
    let again = rpassword::prompt_password("Again: ").context("reading the password")?;
    if first != again {
        bail!("the passwords differ; nothing was changed");
    }
    Ok(first)
}

/// Runs `cellguard user …`.
pub async fn run_user(data_dir: &Path, what: &UserCommand) -> anyhow::Result<()> {
    let access = open(data_dir).await?;
    match what {
        UserCommand::Add {
            name,
            role: r,
            password_stdin,
        } => {
            let r = role(r)?;
            let pw = password(name, *password_stdin)?;
            access.users.add(name, r, &pw).await?;
            audit(&access, AuditAction::UserAdded, name, format!("role {r}")).await?;
            println!("added {name} ({})", r.label());
        }
        UserCommand::List => {
            for u in access.users.list().await? {
                let last = u
                    .last_sign_in_ms
                    .map(crate::clock::format_time)
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{:<24} {:<18} last sign-in {last}{}",
                    u.username,
                    u.role.as_str(),
                    if u.disabled { "  (disabled)" } else { "" }
                );
            }
        }
        UserCommand::SetRole { name, role: r } => {
            let r = role(r)?;
            let old = access.users.set_role(name, r).await?;
            audit(
                &access,
                AuditAction::RoleChanged,
                name,
                format!("{old} → {r}"),
            )
            .await?;
            println!("{name}: {old} → {r}");
        }
        UserCommand::Password {
            name,
            password_stdin,
        } => {
            let pw = password(name, *password_stdin)?;
            access.users.set_password(name, &pw).await?;
            audit(&access, AuditAction::PasswordChanged, name, String::new()).await?;
            println!("{name}: password changed; their sessions have ended");
        }
        UserCommand::Disable { name } | UserCommand::Enable { name } => {
            let disabled = matches!(what, UserCommand::Disable { .. });
            access.users.set_disabled(name, disabled).await?;
            let word = if disabled { "disabled" } else { "enabled" };
            audit(&access, AuditAction::UserDisabled, name, word.into()).await?;
            println!("{name}: {word}");
        }
    }
    Ok(())
}

/// Runs `cellguard token …`.
pub async fn run_token(data_dir: &Path, what: &TokenCommand) -> anyhow::Result<()> {
    let access = open(data_dir).await?;
    match what {
        TokenCommand::Add { name, scope } => {
            let scope = Scope::parse(scope)
                .with_context(|| format!("unknown scope {scope:?}; one of: ingest"))?;
            let secret = access.tokens.issue(name, scope).await?;
            audit(
                &access,
                AuditAction::TokenIssued,
                name,
                format!("scope {}", scope.as_str()),
            )
            .await?;
            eprintln!(
                "token for {name} ({}); shown once, store it now:",
                scope.as_str()
            );
            println!("{secret}");
        }
        TokenCommand::List => {
            for t in access.tokens.list().await? {
                println!(
                    "{:<24} {:<8} issued {}{}",
                    t.name,
                    t.scope.as_str(),
                    crate::clock::format_time(t.created_ms),
                    t.revoked_ms
                        .map(|r| format!("  revoked {}", crate::clock::format_time(r)))
                        .unwrap_or_default()
                );
            }
        }
        TokenCommand::Revoke { name } => {
            let n = access.tokens.revoke(name).await?;
            if n == 0 {
                bail!("no live token named {name}");
            }
            audit(
                &access,
                AuditAction::TokenRevoked,
                name,
                format!("{n} token(s)"),
            )
            .await?;
            println!("{name}: {n} token(s) revoked");
        }
    }
    Ok(())
}
