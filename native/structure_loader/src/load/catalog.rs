//! What a load asks the server's catalogs, once, in the round trip that opens its
//! transaction and before any statement of the dump is sent; and what follows from the
//! answer: the statements to skip, the extensions to refuse, and what a privilege error
//! means for the role the load runs as.
//!
//! On a managed server the load runs as the application's role: not a superuser, the
//! owner of its database, with extensions created by an administrator. Deciding all of
//! this up front costs one query, where catching each statement's error would cost a
//! savepoint and a round trip per statement, and could not list every missing extension
//! at once.

use crate::dump::preflight::{CreatedExtension, Survey};
use crate::error::{ErrorReason, LoadError};
use crate::split::statement_kind::StatementKind;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use tokio_postgres::Row;

/// Who the load runs as, which of the preamble settings named in `$1` the server does not
/// know, and for each extension named in `$2` (those the dump creates or comments on)
/// whether the server has it, who may create it, and who owns it if it exists: one row
/// per extension, or one row with NULL extension columns when `$2` is empty.
///
/// `pg_settings` leaves out settings the server hides (`default_with_oids`, `seed`, ...),
/// so those are asked about with `current_setting(name, true)`, which is NULL only for a
/// setting that does not exist. An extension's owner may comment on it: a role with the
/// privileges of the owner (`pg_has_role(owner, 'USAGE')`, true for a superuser), as the
/// server checks.
///
/// Managed services let roles that are not superusers create extensions in ways of their
/// own, which PostgreSQL's rules alone would refuse: members of an administrator role
/// (see [`PROVIDER_ADMIN_ROLES`]), and extensions a provider's module lists as creatable
/// (`extwlist.extensions` of pgextwlist, as on Heroku; `supautils.privileged_extensions`
/// on Supabase). Those are never refused. An allow-list that is set (`azure.extensions`
/// on Azure, `rds.allowed_extensions` on RDS) and leaves an extension out is reported.
pub(crate) const SERVER_FACTS: &str = "\
SELECT r.role, r.superuser, r.may_create, r.unknown_settings, r.provider_admin, \
       e.name, e.available, e.needs_superuser, e.trusted, e.owner, e.owned, \
       e.listed_by, e.not_allowed_by \
FROM (SELECT current_user::text AS role, \
             coalesce((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user), \
                      false) AS superuser, \
             pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE') \
               AS may_create, \
             ARRAY(SELECT wanted FROM pg_catalog.unnest($1::text[]) AS wanted \
                   WHERE CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_settings WHERE name = wanted) \
                         THEN false ELSE pg_catalog.current_setting(wanted, true) IS NULL END) \
               AS unknown_settings, \
             (SELECT min(rolname)::text FROM pg_catalog.pg_roles \
              WHERE rolname = ANY ($3::text[]) AND pg_catalog.pg_has_role(oid, 'MEMBER')) \
               AS provider_admin) AS r \
LEFT JOIN (SELECT wanted AS name, \
                  a.name IS NOT NULL OR x.oid IS NOT NULL AS available, \
                  coalesce(v.superuser, true) AS needs_superuser, \
                  coalesce(v.trusted, false) AS trusted, \
                  pg_catalog.pg_get_userbyid(x.extowner)::text AS owner, \
                  coalesce(pg_catalog.pg_has_role(x.extowner, 'USAGE'), false) AS owned, \
                  (SELECT min(list) FROM pg_catalog.unnest( \
                     ARRAY['extwlist.extensions', 'supautils.privileged_extensions']) AS list \
                   WHERE wanted = ANY (pg_catalog.string_to_array(pg_catalog.replace( \
                     coalesce(pg_catalog.current_setting(list, true), ''), ' ', ''), ','))) \
                    AS listed_by, \
                  (SELECT min(list) FROM pg_catalog.unnest( \
                     ARRAY['azure.extensions', 'rds.allowed_extensions']) AS list \
                   WHERE coalesce(pg_catalog.btrim(pg_catalog.current_setting(list, true)), '') \
                         NOT IN ('', '*') \
                     AND NOT wanted = ANY (pg_catalog.string_to_array(pg_catalog.replace( \
                       pg_catalog.current_setting(list, true), ' ', ''), ','))) \
                    AS not_allowed_by \
           FROM pg_catalog.unnest($2::text[]) AS wanted \
           LEFT JOIN pg_catalog.pg_available_extensions a ON a.name = wanted \
           LEFT JOIN pg_catalog.pg_available_extension_versions v \
             ON v.name = a.name AND v.version = a.default_version \
           LEFT JOIN pg_catalog.pg_extension x ON x.extname = wanted) AS e ON true";

/// The roles through which managed services let a role that is not a superuser create any
/// extension they offer: Amazon RDS and Aurora, Google Cloud SQL, Azure Database for
/// PostgreSQL, Neon.
pub(crate) const PROVIDER_ADMIN_ROLES: [&str; 4] = [
    "rds_superuser",
    "cloudsqlsuperuser",
    "azure_pg_admin",
    "neon_superuser",
];

/// The role a load runs as (after the repo's `after_connect` SQL, which may `SET ROLE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Role {
    pub(crate) name: String,
    pub(crate) superuser: bool,
    /// The CREATE privilege on the database, which a trusted extension needs.
    pub(crate) may_create: bool,
    /// A managed service's administrator role the role belongs to, which may create any
    /// extension the service offers.
    pub(crate) provider_admin: Option<String>,
}

/// An extension the dump creates or comments on, as the server has it before the load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExtensionState {
    /// In `pg_available_extensions` (or installed, though its files are gone).
    pub(crate) available: bool,
    /// Its control file says only a superuser may create it...
    pub(crate) needs_superuser: bool,
    /// ...unless it is trusted (PostgreSQL 13+): then any role with CREATE on the database.
    pub(crate) trusted: bool,
    /// Its owner, when it exists already.
    pub(crate) owner: Option<String>,
    /// Whether the role has its owner's privileges, so may comment on it.
    pub(crate) owned: bool,
    /// The provider's setting that lists it as creatable by roles that are not
    /// superusers (`extwlist.extensions`, `supautils.privileged_extensions`).
    pub(crate) listed_by: Option<String>,
    /// The provider's allow-list that is set and leaves it out (`azure.extensions`,
    /// `rds.allowed_extensions`): no role may create it until it is added.
    pub(crate) not_allowed_by: Option<String>,
}

/// What the server said before the load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerFacts {
    pub(crate) role: Role,
    pub(crate) unknown_settings: HashSet<String>,
    pub(crate) extensions: HashMap<String, ExtensionState>,
}

impl ServerFacts {
    /// Reads the rows of [`SERVER_FACTS`].
    pub(crate) fn from_rows(rows: &[Row]) -> Result<ServerFacts, LoadError> {
        let first = rows
            .first()
            .ok_or_else(|| LoadError::internal("the server's catalogs answered no row"))?;
        let unknown_settings: Vec<String> = first.get(3);
        Ok(ServerFacts {
            role: Role {
                name: first.get(0),
                superuser: first.get(1),
                may_create: first.get(2),
                provider_admin: first.get(4),
            },
            unknown_settings: unknown_settings.into_iter().collect(),
            extensions: rows
                .iter()
                .filter_map(|row| {
                    let name: Option<String> = row.get(5);
                    Some((
                        name?,
                        ExtensionState {
                            available: row.get(6),
                            needs_superuser: row.get(7),
                            trusted: row.get(8),
                            owner: row.get(9),
                            owned: row.get(10),
                            listed_by: row.get(11),
                            not_allowed_by: row.get(12),
                        },
                    ))
                })
                .collect(),
        })
    }
}

/// A statement the load does not send because of what the server said, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Skip {
    /// A preamble setting the server does not know.
    Setting(String),
    /// `COMMENT ON EXTENSION` of an extension that existed before the load and that
    /// another role, `owner`, owns: only its owner may comment on it, and its comment is
    /// already what the extension's own files set.
    ExtensionComment { name: String, owner: String },
}

impl Skip {
    /// The WARNING that says so.
    pub(crate) fn warning(&self, role: &Role) -> String {
        match self {
            Skip::Setting(name) => {
                format!("skipped SET {name}: the server does not know this setting")
            }
            Skip::ExtensionComment { name, owner } => format!(
                "skipped COMMENT ON EXTENSION {}: the extension existed before the load and \
                 belongs to role {}, and only its owner may comment on it, not role {} that \
                 runs the load",
                quote_ident(name),
                quote_ident(owner),
                quote_ident(&role.name)
            ),
        }
    }
}

/// The statements not to send, by the byte offset where each starts.
pub(crate) fn skips(found: &Survey, facts: &ServerFacts) -> HashMap<u64, Skip> {
    let settings = found
        .preamble_settings
        .iter()
        .filter(|setting| facts.unknown_settings.contains(&setting.name))
        .map(|setting| {
            (
                setting.start.byte_offset,
                Skip::Setting(setting.name.clone()),
            )
        });
    let comments = found.extension_comments.iter().filter_map(|comment| {
        let state = facts.extensions.get(&comment.name)?;
        match &state.owner {
            Some(owner) if !state.owned => Some((
                comment.start.byte_offset,
                Skip::ExtensionComment {
                    name: comment.name.clone(),
                    owner: owner.clone(),
                },
            )),
            _ => None,
        }
    });
    settings.chain(comments).collect()
}

/// Why the role cannot create an extension the dump creates.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Obstacle {
    /// The server does not have it.
    Unavailable,
    /// The provider's allow-list, this setting, leaves it out.
    NotAllowed(String),
    /// Only a superuser may create it.
    Untrusted,
    /// It is trusted, and the role lacks CREATE on the database.
    NoCreatePrivilege,
}

/// Fails, before anything of the dump is sent, if the dump creates extensions that the
/// server does not have or that `facts.role` may not create, naming all of them, why,
/// and what an administrator must run in `database`. An extension that exists already is
/// left to the dump's `CREATE EXTENSION IF NOT EXISTS`; without `IF NOT EXISTS`, the
/// server says it exists, to any role alike. Only what is known to fail is refused: where
/// a managed service lets the role create an extension in a way of its own (see
/// [`SERVER_FACTS`]), the statement is left to the server.
pub(crate) fn refuse_extensions(
    created: &[CreatedExtension],
    facts: &ServerFacts,
    database: &str,
) -> Result<(), LoadError> {
    let role = &facts.role;
    let mut seen = HashSet::new();
    let obstacles: Vec<(&CreatedExtension, Obstacle)> = created
        .iter()
        .filter(|extension| seen.insert(extension.name.as_str()))
        .filter_map(|extension| {
            let state = facts.extensions.get(&extension.name)?;
            let obstacle = if state.owner.is_some() {
                return None;
            } else if !state.available {
                Obstacle::Unavailable
            } else if let Some(setting) = &state.not_allowed_by {
                Obstacle::NotAllowed(setting.clone())
            } else if !state.needs_superuser
                || role.superuser
                || role.provider_admin.is_some()
                || state.listed_by.is_some()
            {
                return None;
            } else if !state.trusted {
                Obstacle::Untrusted
            } else if !role.may_create {
                Obstacle::NoCreatePrivilege
            } else {
                return None;
            };
            Some((extension, obstacle))
        })
        .collect();
    let Some((first, _)) = obstacles.first() else {
        return Ok(());
    };
    let names: Vec<&str> = obstacles.iter().map(|(e, _)| e.name.as_str()).collect();
    let (role_name, database_name) = (quote_ident(&role.name), quote_ident(database));
    let mut detail = String::new();
    for (extension, obstacle) in &obstacles {
        let why = match obstacle {
            Obstacle::Unavailable => {
                "the server does not have it (it is not in pg_available_extensions)".to_owned()
            }
            Obstacle::NotAllowed(setting) => format!(
                "the server's allow-list {setting} leaves it out: no role may create it until \
                 an administrator adds it there"
            ),
            Obstacle::Untrusted => format!(
                "only a superuser can create it (it is not a trusted extension), and role \
                 {role_name} is not one"
            ),
            Obstacle::NoCreatePrivilege => format!(
                "a trusted extension, which needs the CREATE privilege on database \
                 {database_name}, and role {role_name} does not have it"
            ),
        };
        let _ = writeln!(
            detail,
            "{} (line {}): {why}",
            quote_ident(&extension.name),
            extension.start.line
        );
    }
    let mut hint = format!(
        "ask an administrator (a superuser, or the administrator role of a managed service) \
         to run in database {database_name}:\n"
    );
    for (extension, _) in &obstacles {
        let _ = writeln!(hint, "    {}", extension.text);
    }
    hint.push_str(
        "then load again: the dump's CREATE EXTENSION IF NOT EXISTS leaves an existing \
         extension as it is.",
    );
    for (extension, _) in obstacles.iter().filter(|(e, _)| !e.if_not_exists) {
        let _ = write!(
            hint,
            " The dump's CREATE EXTENSION {} at line {} has no IF NOT EXISTS: once the \
             extension exists it fails, so remove it from the dump then.",
            quote_ident(&extension.name),
            extension.start.line
        );
    }
    if obstacles
        .iter()
        .any(|(_, obstacle)| *obstacle == Obstacle::Unavailable)
    {
        hint.push_str(
            " An extension the server does not have must be installed on it first; on a \
             managed service, it must be one the provider offers and allows.",
        );
    }
    if obstacles
        .iter()
        .any(|(_, obstacle)| matches!(obstacle, Obstacle::NotAllowed(_)))
    {
        hint.push_str(
            " An extension an allow-list leaves out must be added to it first (a server \
             parameter of the managed service).",
        );
    }
    if obstacles
        .iter()
        .any(|(_, obstacle)| *obstacle == Obstacle::NoCreatePrivilege)
    {
        let _ = write!(
            hint,
            " A trusted extension the role may create itself once granted \
             `GRANT CREATE ON DATABASE {database_name} TO {role_name};`."
        );
    }
    Err(LoadError::new(
        ErrorReason::Extensions,
        format!(
            "the dump creates {} that role {role_name} cannot create in database \
             {database_name}: {}; nothing of the dump was sent",
            if names.len() == 1 {
                "an extension"
            } else {
                "extensions"
            },
            names.join(", ")
        ),
    )
    .at(first.start)
    .with_detail(detail.trim_end())
    .with_hint(&hint))
}

/// What to add to the hint of a privilege error (SQLSTATE 42501) raised by a statement of
/// this `kind`, or of any error of `ALTER SYSTEM` (which fails first for running in a
/// transaction): which role the load runs as, and what to do. `switched_to` is the role
/// the dump last switched to with `SET ROLE` or `SET SESSION AUTHORIZATION` before the
/// statement, and the line where it did.
pub(crate) fn privilege_hint(
    kind: &StatementKind,
    role: &Role,
    switched_to: Option<(&str, u64)>,
    database: &str,
) -> String {
    let role_name = quote_ident(&role.name);
    let who = match switched_to {
        Some((to, line)) => format!(
            "the load runs as role {} (the dump switched to it at line {line}; the load \
             connected as role {role_name})",
            quote_ident(to)
        ),
        None if role.superuser => format!("the load runs as role {role_name}, a superuser"),
        None => format!("the load runs as role {role_name}, which is not a superuser"),
    };
    let what = match kind {
        StatementKind::CreateEventTrigger => "only a superuser can create an event trigger: \
            ask an administrator to create it, or remove it from the dump"
            .to_owned(),
        StatementKind::AlterSystem => "ALTER SYSTEM cannot run in a transaction, so not in \
            a load (nor under psql --single-transaction), and needs a superuser or, on \
            PostgreSQL 15 and later, the ALTER SYSTEM privilege on the parameter: remove it \
            from the dump; a managed service sets server parameters through its own console \
            or API"
            .to_owned(),
        StatementKind::Setting(setting)
            if matches!(setting.name.as_str(), "role" | "session_authorization") =>
        {
            "SET ROLE needs membership in that role, and SET SESSION AUTHORIZATION a \
             superuser; no_owner: true leaves out the dump's switches of role and its \
             ALTER ... OWNER TO statements, so that the load's role owns everything"
                .to_owned()
        }
        StatementKind::Setting(setting) => format!(
            "only a superuser, or on PostgreSQL 15 and later a role granted it (GRANT SET ON \
             PARAMETER {} TO {role_name}), can change {}",
            setting.name, setting.name
        ),
        StatementKind::AlterOwner => "giving an object to another role needs membership in \
            that role; no_owner: true leaves out the dump's ALTER ... OWNER TO statements, so \
            that the load's role owns everything"
            .to_owned(),
        StatementKind::Privileges => "GRANT and REVOKE need ownership of the object or a \
            grant option on it; no_privileges: true leaves out the dump's GRANT, REVOKE and \
            ALTER DEFAULT PRIVILEGES statements"
            .to_owned(),
        StatementKind::Comment {
            extension: Some(name),
        } => format!(
            "only the owner of extension {} may comment on it; without strict: true, a \
             comment on an extension that existed before the load and belongs to another \
             role is skipped with a warning, and no_comments: true leaves out every comment",
            quote_ident(name)
        ),
        StatementKind::Comment { extension: None } => "only the owner of an object may \
            comment on it; no_comments: true leaves out the dump's comments"
            .to_owned(),
        StatementKind::CreateExtension { .. } => format!(
            "ask an administrator to run this CREATE EXTENSION in database {}, then load \
             again; without strict: true, the load lists every such extension before it \
             sends anything",
            quote_ident(database)
        ),
        _ => {
            "grant the role the privilege the error names, or load as a role that has it".to_owned()
        }
    };
    format!("{who}; {what}")
}

/// An identifier as SQL writes it: double-quoted when it is not a plain lowercase name.
pub(crate) fn quote_ident(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::location::Location;

    fn created(name: &str, line: u64) -> CreatedExtension {
        CreatedExtension {
            name: name.to_owned(),
            if_not_exists: true,
            start: Location::new(line, 1, line * 100),
            text: format!(
                "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA public;",
                quote_ident(name)
            ),
        }
    }

    fn state(available: bool, trusted: bool, owner: Option<&str>) -> ExtensionState {
        ExtensionState {
            available,
            needs_superuser: true,
            trusted,
            owner: owner.map(str::to_owned),
            owned: false,
            listed_by: None,
            not_allowed_by: None,
        }
    }

    fn facts(superuser: bool, may_create: bool) -> ServerFacts {
        ServerFacts {
            role: Role {
                name: "app".to_owned(),
                superuser,
                may_create,
                provider_admin: None,
            },
            unknown_settings: HashSet::new(),
            extensions: [
                ("citext", state(true, true, None)),
                ("plpgsql", state(true, true, Some("postgres"))),
                ("pg_stat_statements", state(true, false, None)),
                ("vector", state(false, false, None)),
                ("uuid-ossp", state(true, true, None)),
            ]
            .into_iter()
            .map(|(name, state)| (name.to_owned(), state))
            .collect(),
        }
    }

    #[test]
    fn a_database_owner_creates_trusted_extensions_and_finds_existing_ones() {
        let dump = [
            created("plpgsql", 3),
            created("citext", 10),
            created("uuid-ossp", 20),
        ];
        assert_eq!(refuse_extensions(&dump, &facts(false, true), "app"), Ok(()));
    }

    #[test]
    fn every_extension_the_role_cannot_create_is_listed_with_why_and_what_to_run() {
        let dump = [
            created("citext", 10),
            created("pg_stat_statements", 31),
            created("vector", 489),
            created("uuid-ossp", 500),
        ];
        let error = refuse_extensions(&dump, &facts(false, false), "app_prod").unwrap_err();
        assert_eq!(error.reason(), ErrorReason::Extensions);
        assert_eq!((error.line(), error.column()), (Some(10), Some(1)));
        assert_eq!(
            error.message(),
            "the dump creates extensions that role app cannot create in database app_prod: \
             citext, pg_stat_statements, vector, uuid-ossp; nothing of the dump was sent"
        );
        assert_eq!(
            error.detail(),
            Some(
                "citext (line 10): a trusted extension, which needs the CREATE privilege on \
                 database app_prod, and role app does not have it\n\
                 pg_stat_statements (line 31): only a superuser can create it (it is not a \
                 trusted extension), and role app is not one\n\
                 vector (line 489): the server does not have it (it is not in \
                 pg_available_extensions)\n\
                 \"uuid-ossp\" (line 500): a trusted extension, which needs the CREATE \
                 privilege on database app_prod, and role app does not have it"
            )
        );
        let hint = error.hint().unwrap();
        assert!(
            hint.starts_with(
                "ask an administrator (a superuser, or the administrator role of a managed \
                 service) to run in database app_prod:\n    \
                 CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;\n    \
                 CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA public;\n    \
                 CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;\n    \
                 CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\" WITH SCHEMA public;\n\
                 then load again"
            ),
            "{hint}"
        );
        assert!(hint.contains("must be installed on it first"), "{hint}");
        assert!(
            hint.contains("GRANT CREATE ON DATABASE app_prod TO app;"),
            "{hint}"
        );
    }

    #[test]
    fn a_superuser_is_stopped_only_by_extensions_the_server_lacks() {
        let dump = [created("pg_stat_statements", 31), created("vector", 489)];
        let error = refuse_extensions(&dump, &facts(true, true), "app").unwrap_err();
        assert_eq!(
            error.detail(),
            Some("vector (line 489): the server does not have it (it is not in pg_available_extensions)")
        );
        assert_eq!(error.line(), Some(489));
    }

    #[test]
    fn a_managed_services_own_ways_to_create_extensions_are_left_to_the_server() {
        let dump = [created("pg_stat_statements", 31)];
        let mut admin = facts(false, true);
        admin.role.provider_admin = Some("rds_superuser".to_owned());
        assert_eq!(refuse_extensions(&dump, &admin, "app"), Ok(()));
        let mut listed = facts(false, true);
        listed
            .extensions
            .get_mut("pg_stat_statements")
            .unwrap()
            .listed_by = Some("extwlist.extensions".to_owned());
        assert_eq!(refuse_extensions(&dump, &listed, "app"), Ok(()));
    }

    #[test]
    fn an_allow_list_that_leaves_an_extension_out_refuses_it_even_to_an_administrator() {
        let dump = [created("citext", 24)];
        let mut server = facts(true, true);
        server.extensions.get_mut("citext").unwrap().not_allowed_by =
            Some("azure.extensions".to_owned());
        let error = refuse_extensions(&dump, &server, "app").unwrap_err();
        assert_eq!(
            error.detail(),
            Some(
                "citext (line 24): the server's allow-list azure.extensions leaves it out: no \
                 role may create it until an administrator adds it there"
            )
        );
        assert!(error.hint().unwrap().contains("must be added to it first"));
    }

    #[test]
    fn a_comment_is_skipped_only_on_an_extension_another_role_owned_before_the_load() {
        let mut server = facts(false, true);
        server.extensions.get_mut("uuid-ossp").unwrap().owner = Some("app".to_owned());
        server.extensions.get_mut("uuid-ossp").unwrap().owned = true;
        let comment = |name: &str, line: u64| crate::dump::preflight::ExtensionComment {
            name: name.to_owned(),
            start: Location::new(line, 1, line * 100),
        };
        let found = Survey {
            extension_comments: vec![
                comment("plpgsql", 22),
                comment("citext", 33),
                comment("uuid-ossp", 44),
            ],
            ..Survey::default()
        };
        assert_eq!(
            skips(&found, &server),
            HashMap::from([(
                2200,
                Skip::ExtensionComment {
                    name: "plpgsql".to_owned(),
                    owner: "postgres".to_owned()
                }
            )])
        );
    }

    #[test]
    fn identifiers_are_quoted_only_when_they_must_be() {
        assert_eq!(quote_ident("app_prod"), "app_prod");
        assert_eq!(quote_ident("uuid-ossp"), "\"uuid-ossp\"");
        assert_eq!(quote_ident("App"), "\"App\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
