//! pg_restore's filters, for a plain-format dump: statements a load leaves out because the
//! caller asked, with the meanings pg_restore gives `--no-owner`, `--no-privileges` and
//! `--no-comments`.

use crate::split::statement_kind::StatementKind;

/// Which statements to leave out. All off by default: every statement is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filters {
    /// Leaves out what sets owners: `ALTER ... OWNER TO`, and the `SET`/`RESET` of `ROLE`
    /// and `SESSION AUTHORIZATION` that switch who creates (and so owns) what follows.
    /// Everything is then owned by the role the load runs as.
    pub no_owner: bool,
    /// Leaves out access privileges: `GRANT`, `REVOKE` and `ALTER DEFAULT PRIVILEGES`.
    pub no_privileges: bool,
    /// Leaves out `COMMENT ON`.
    pub no_comments: bool,
}

/// One of the [`Filters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// [`Filters::no_owner`].
    Owner,
    /// [`Filters::no_privileges`].
    Privileges,
    /// [`Filters::no_comments`].
    Comments,
}

impl Filter {
    /// The option that turns it on, as the caller names it.
    pub fn option_name(self) -> &'static str {
        match self {
            Filter::Owner => "no_owner",
            Filter::Privileges => "no_privileges",
            Filter::Comments => "no_comments",
        }
    }
}

/// How many statements each filter left out, or would leave out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeftOut {
    /// By [`Filters::no_owner`].
    pub owner: u64,
    /// By [`Filters::no_privileges`].
    pub privileges: u64,
    /// By [`Filters::no_comments`].
    pub comments: u64,
}

impl LeftOut {
    pub(crate) fn count(&mut self, filter: Filter) {
        match filter {
            Filter::Owner => self.owner += 1,
            Filter::Privileges => self.privileges += 1,
            Filter::Comments => self.comments += 1,
        }
    }
}

impl Filters {
    /// The filter that leaves out a statement of this kind, if one does.
    pub(crate) fn leaving_out(&self, kind: &StatementKind) -> Option<Filter> {
        match kind {
            StatementKind::AlterOwner if self.no_owner => Some(Filter::Owner),
            StatementKind::Setting(setting)
                if self.no_owner
                    && matches!(setting.name.as_str(), "role" | "session_authorization") =>
            {
                Some(Filter::Owner)
            }
            StatementKind::Privileges if self.no_privileges => Some(Filter::Privileges),
            StatementKind::Comment { .. } if self.no_comments => Some(Filter::Comments),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::statement_kind::classify;

    fn left_out_by(filters: Filters, text: &str) -> Option<Filter> {
        filters.leaving_out(&classify(text))
    }

    #[test]
    fn each_filter_leaves_out_its_own_statements_only() {
        let all = Filters {
            no_owner: true,
            no_privileges: true,
            no_comments: true,
        };
        for (text, filter) in [
            (
                "ALTER TABLE public.t OWNER TO postgres;",
                Some(Filter::Owner),
            ),
            ("SET SESSION AUTHORIZATION 'postgres';", Some(Filter::Owner)),
            ("SET ROLE app_owner;", Some(Filter::Owner)),
            ("RESET SESSION AUTHORIZATION;", Some(Filter::Owner)),
            (
                "GRANT ALL ON SCHEMA public TO PUBLIC;",
                Some(Filter::Privileges),
            ),
            ("REVOKE ALL ON TABLE t FROM app;", Some(Filter::Privileges)),
            (
                "ALTER DEFAULT PRIVILEGES IN SCHEMA s GRANT SELECT ON TABLES TO app;",
                Some(Filter::Privileges),
            ),
            ("COMMENT ON TABLE t IS 'x';", Some(Filter::Comments)),
            (
                "COMMENT ON EXTENSION citext IS 'x';",
                Some(Filter::Comments),
            ),
            ("SET search_path = public;", None),
            ("CREATE TABLE t (id int);", None),
            ("ALTER TABLE t ADD COLUMN owner text;", None),
        ] {
            assert_eq!(left_out_by(all, text), filter, "{text}");
        }
    }

    #[test]
    fn without_filters_nothing_is_left_out() {
        for text in [
            "ALTER TABLE public.t OWNER TO postgres;",
            "SET ROLE app_owner;",
            "GRANT ALL ON SCHEMA public TO PUBLIC;",
            "COMMENT ON TABLE t IS 'x';",
        ] {
            assert_eq!(left_out_by(Filters::default(), text), None, "{text}");
        }
        let owner_only = Filters {
            no_owner: true,
            ..Filters::default()
        };
        assert_eq!(left_out_by(owner_only, "GRANT ALL ON t TO app;"), None);
        assert_eq!(left_out_by(owner_only, "COMMENT ON TABLE t IS 'x';"), None);
    }
}
