//! The renderer behind [`super::render`]: common table expressions built
//! step by step (see the module docs of [`super`] for the plan).

use fs_schema::{FeatureGroup, FeatureType};

use super::{Dialect, EntityTable, TableRef, TimeEncoding, quote_ident, quote_literal};
use crate::error::{Error, Result};
use crate::spec::{
    API_INVOCATION_TIME, Base, DatasetSpec, IS_DELETED, JoinSpec, JoinType, WRITE_TIME,
};

/// The prefix of the renderer's own columns.
const RESERVED_PREFIX: &str = "__fs_";
const ET: &str = "\"__fs_et\"";
const T: &str = "\"__fs_t\"";
const RN: &str = "\"__fs_rn\"";
const WT: &str = "\"write_time\"";
const API: &str = "\"api_invocation_time\"";
const DEL: &str = "\"is_deleted\"";
const KID: &str = "\"__fs_kid\"";
const KET: &str = "\"__fs_ket\"";
const KAPI: &str = "\"__fs_kapi\"";
const KWT: &str = "\"__fs_kwt\"";
const KDEL: &str = "\"__fs_kdel\"";
const ORD: &str = "\"__fs_ord\"";
const MORD: &str = "\"__fs_mord\"";
const UT: &str = "\"__fs_ut\"";
const SIDE: &str = "\"__fs_side\"";

/// The newest-first ordering of a group's rows, on columns of `alias`
/// (`""` for none).
fn newest_first(alias: &str, with_deleted: bool) -> String {
    let mut out = format!(
        "{alias}{ET} DESC NULLS LAST, {alias}{API} DESC NULLS LAST, {alias}{WT} DESC NULLS LAST"
    );
    if with_deleted {
        out.push_str(&format!(", {alias}{DEL} DESC NULLS LAST"));
    }
    out
}

/// The rows a step leaves: a common table expression and its columns (quoted).
struct Rel {
    name: String,
    columns: Vec<String>,
}

/// The rows joined groups are matched against.
struct EntityRel {
    rel: Rel,
    /// The (quoted) column holding each row's time in milliseconds.
    time: &'static str,
}

pub(super) struct Renderer<'a> {
    spec: &'a DatasetSpec,
    dialect: Dialect,
    tables: &'a dyn Fn(&FeatureGroup) -> Result<TableRef>,
    entities: Option<&'a EntityTable>,
    ctes: Vec<(String, String)>,
}

impl<'a> Renderer<'a> {
    pub(super) fn new(
        spec: &'a DatasetSpec,
        dialect: Dialect,
        tables: &'a dyn Fn(&FeatureGroup) -> Result<TableRef>,
        entities: Option<&'a EntityTable>,
    ) -> Result<Self> {
        spec.validate()?;
        if matches!(spec.base, Base::Entities(_)) && entities.is_none() {
            return Err(Error::InvalidDataset(
                "a dataset of an entity table is rendered with render_with_entities, \
                 which names the table holding the entities"
                    .into(),
            ));
        }
        Ok(Self {
            spec,
            dialect,
            tables,
            entities,
            ctes: Vec::new(),
        })
    }

    pub(super) fn render(mut self) -> Result<String> {
        let (last, select) = match &self.spec.base {
            Base::Group(group) => self.group_base(group)?,
            Base::Entities(e) => {
                let table = self.entities.expect("checked in new");
                self.entity_base(e.id_column.as_str(), e.time_column.as_str(), table)?
            }
        };
        let mut sql = String::from("WITH\n");
        let n = self.ctes.len();
        for (i, (name, body)) in self.ctes.iter().enumerate() {
            let sep = if i + 1 < n { "," } else { "" };
            sql.push_str(&format!("{name} AS (\n{body}\n){sep}\n"));
        }
        sql.push_str(&format!("SELECT {} FROM {last}", select.join(", ")));
        if let Some(limit) = self.spec.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        Ok(sql)
    }

    fn push(&mut self, name: &str, body: String) -> String {
        let quoted = format!("\"{name}\"");
        self.ctes.push((quoted.clone(), body));
        quoted
    }

    /// A dataset of a base group: its rows after steps 1–4, then the joins.
    fn group_base(&mut self, group: &FeatureGroup) -> Result<(String, Vec<String>)> {
        let spec = self.spec;
        let id = q(&group.record_identifier_feature_name)?;
        let mut needed = spec.base_features();
        for join in &spec.joins {
            if let Some(col) = &join.entity_column {
                push_unique(&mut needed, col);
            }
        }
        let src = self.group_source(0, group, &needed, true)?;
        let n = spec
            .recent_records_per_id
            .or(if spec.include_duplicated_records {
                None
            } else {
                Some(1)
            });
        let rows = if n == Some(1) {
            // Steps 2–4 in one window (see the module docs).
            let keep_deleted = if spec.include_deleted_records {
                String::new()
            } else {
                format!(" AND NOT coalesce({DEL}, false)")
            };
            let name = if self.dialect == Dialect::DataFusion {
                self.latest_narrow(&id, &src, &keep_deleted)
            } else {
                let body = format!(
                    "SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY {id} ORDER BY {order}) AS {RN} FROM {from}) t\nWHERE {RN} = 1{keep_deleted}",
                    cols = src.columns.join(", "),
                    order = newest_first("", true),
                    from = src.name,
                );
                self.push("g0", body)
            };
            Rel {
                name,
                columns: src.columns,
            }
        } else {
            let mut rows = src;
            if !spec.include_duplicated_records {
                rows = self.dedupe(0, &id, rows);
            }
            if !spec.include_deleted_records {
                rows = self.hide_deleted(0, &id, rows);
            }
            if let Some(n) = n {
                let body = format!(
                    "SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY {id} ORDER BY {order}) AS {RN} FROM {from}) t\nWHERE {RN} <= {n}",
                    cols = rows.columns.join(", "),
                    order = newest_first("", true),
                    from = rows.name,
                );
                rows.name = self.push("g0_recent", body);
            }
            rows
        };
        let mut select: Vec<String> = spec
            .base_features()
            .iter()
            .map(|c| q(c))
            .collect::<Result<_>>()?;
        if spec.include_metadata {
            select.extend([WT, API, DEL].map(String::from));
        }
        if spec.joins.is_empty() {
            return Ok((rows.name, select));
        }
        // Neither join shape needs the entity rows numbered: a match depends
        // only on an entity row's (join key, time).
        let entity = EntityRel {
            rel: rows,
            time: ET,
        };
        let default_column = group.record_identifier_feature_name.clone();
        let last = self.joins(entity, &default_column, &mut select)?;
        Ok((last, select))
    }

    /// A dataset of a caller's entity table with groups joined onto it.
    fn entity_base(
        &mut self,
        id_column: &str,
        time_column: &str,
        table: &EntityTable,
    ) -> Result<(String, Vec<String>)> {
        for c in &table.columns {
            check_own_name(c, "the entity table's column")?;
        }
        let has = |c: &str| table.columns.iter().any(|x| x == c);
        for c in [id_column, time_column] {
            if !has(c) {
                return Err(Error::InvalidDataset(format!(
                    "the entity table has no column `{c}` (its columns: {})",
                    table.columns.join(", ")
                )));
            }
        }
        for join in &self.spec.joins {
            if let Some(c) = &join.entity_column
                && !has(c)
            {
                return Err(Error::InvalidDataset(format!(
                    "the join of `{}` is on `{c}`, which is not a column of the entity table",
                    join.group.feature_group_name
                )));
            }
            for (name, _) in join.output_features() {
                if table.columns.iter().any(|c| c.eq_ignore_ascii_case(&name)) {
                    return Err(Error::InvalidDataset(format!(
                        "column `{name}` of feature group `{}` clashes with a column of the entity table; \
                         choose the features to join or give the join a prefix",
                        join.group.feature_group_name
                    )));
                }
            }
        }
        let columns: Vec<String> = table.columns.iter().map(|c| q(c)).collect::<Result<_>>()?;
        let time = self.time_ms(&q(time_column)?, table.time_encoding);
        let body = format!(
            "SELECT {}, {time} AS {T} FROM {}",
            columns.join(", "),
            table.table.to_sql()?
        );
        let name = self.push("e0", body);
        let mut carried = columns.clone();
        carried.push(T.to_string());
        let entity = EntityRel {
            rel: Rel {
                name,
                columns: carried,
            },
            time: T,
        };
        let mut select = columns;
        let last = self.joins(entity, id_column, &mut select)?;
        Ok((last, select))
    }

    /// Step 1: a group's candidate rows with the needed columns, the
    /// normalised event time and the metadata columns.
    fn group_source(
        &mut self,
        k: usize,
        group: &FeatureGroup,
        needed: &[String],
        base: bool,
    ) -> Result<Rel> {
        for f in &group.feature_definitions {
            check_own_name(&f.name, "feature")?;
            if [WRITE_TIME, API_INVOCATION_TIME, IS_DELETED]
                .iter()
                .any(|m| m.eq_ignore_ascii_case(&f.name))
            {
                return Err(Error::InvalidDataset(format!(
                    "feature group `{}` has a feature named `{}`, which is reserved for the offline store",
                    group.feature_group_name, f.name
                )));
            }
        }
        let mut names = vec![group.record_identifier_feature_name.clone()];
        for n in needed {
            push_unique(&mut names, n);
        }
        let mut columns: Vec<String> = names.iter().map(|c| q(c)).collect::<Result<_>>()?;
        let encoding = match group.event_time().feature_type {
            FeatureType::String => TimeEncoding::Iso8601,
            FeatureType::Fractional | FeatureType::Integral => TimeEncoding::FractionalSeconds,
        };
        let et = self.time_ms(&q(&group.event_time_feature_name)?, encoding);
        let mut filters = Vec::new();
        if let Some(as_of) = self.spec.as_of {
            filters.push(format!("{WT} <= {}", self.timestamp(&as_of.to_iso())?));
        }
        if base {
            if let Some(from) = self.spec.event_time_from {
                filters.push(format!("{et} >= {}", from.as_millis()));
            }
            if let Some(to) = self.spec.event_time_to {
                filters.push(format!("{et} <= {}", to.as_millis()));
            }
        }
        let table = (self.tables)(group)?.to_sql()?;
        let mut body = format!(
            "SELECT {}, {et} AS {ET}, {WT}, {API}, {DEL} FROM {table}",
            columns.join(", ")
        );
        if !filters.is_empty() {
            body.push_str(&format!("\nWHERE {}", filters.join(" AND ")));
        }
        let name = self.push(&format!("g{k}_src"), body);
        columns.extend([ET, WT, API, DEL].map(String::from));
        Ok(Rel { name, columns })
    }

    /// The latest row per record (steps 2–4 for `n = 1`) without sorting
    /// the wide rows: the window ranks only the key columns, and the
    /// winners' full rows are fetched by a hash join on (identifier, event
    /// time, `api_invocation_time`, `write_time`, `is_deleted`); a last
    /// window over the (one-per-record) winners keeps one row should two
    /// rows tie on every key. The winners come first in the join: with no
    /// statistics DataFusion builds its hash table on the left side; and
    /// that window partitions by the winners' column, which a hash join's
    /// output is not ordered by, so its sort stays above the join (on the
    /// winners) instead of being pushed down onto the probe side (every
    /// wide row).
    fn latest_narrow(&mut self, id: &str, src: &Rel, keep_deleted: &str) -> String {
        let body = format!(
            "SELECT {id} AS {KID}, {ET} AS {KET}, {API} AS {KAPI}, {WT} AS {KWT}, {DEL} AS {KDEL} FROM (SELECT {id}, {ET}, {API}, {WT}, {DEL}, row_number() OVER (PARTITION BY {id} ORDER BY {order}) AS {RN} FROM {from}) t\nWHERE {RN} = 1{keep_deleted}",
            order = newest_first("", true),
            from = src.name,
        );
        let winners = self.push("g0_win", body);
        let s_cols: Vec<String> = src.columns.iter().map(|c| format!("s.{c}")).collect();
        let body = format!(
            "SELECT {cols} FROM (SELECT {s_cols}, row_number() OVER (PARTITION BY w.{KID}) AS {RN} FROM {winners} w JOIN {from} s ON s.{id} = w.{KID} AND (s.{ET} IS NOT DISTINCT FROM w.{KET}) AND (s.{API} IS NOT DISTINCT FROM w.{KAPI}) AND (s.{WT} IS NOT DISTINCT FROM w.{KWT}) AND (s.{DEL} IS NOT DISTINCT FROM w.{KDEL})) t\nWHERE {RN} = 1",
            cols = src.columns.join(", "),
            s_cols = s_cols.join(", "),
            from = src.name,
        );
        self.push("g0", body)
    }

    /// Step 2: one row per (identifier, event time), the newest.
    fn dedupe(&mut self, k: usize, id: &str, rows: Rel) -> Rel {
        let body = format!(
            "SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY {id}, {ET} ORDER BY {API} DESC NULLS LAST, {WT} DESC NULLS LAST, {DEL} DESC NULLS LAST) AS {RN} FROM {from}) t\nWHERE {RN} = 1",
            cols = rows.columns.join(", "),
            from = rows.name,
        );
        let name = self.push(&format!("g{k}_dedup"), body);
        Rel {
            name,
            columns: rows.columns,
        }
    }

    /// Step 3: drop every row not newer than its record's latest delete marker.
    fn hide_deleted(&mut self, k: usize, id: &str, rows: Rel) -> Rel {
        let keys = format!("{id}, {ET}, {API}, {WT}");
        let body = format!(
            "SELECT {keys} FROM (SELECT {keys}, row_number() OVER (PARTITION BY {id} ORDER BY {order}) AS {RN} FROM {from} WHERE {DEL}) t\nWHERE {RN} = 1",
            order = newest_first("", false),
            from = rows.name,
        );
        let markers = self.push(&format!("g{k}_deletes"), body);
        let cols: Vec<String> = rows.columns.iter().map(|c| format!("s.{c}")).collect();
        // DataFusion (with no statistics) builds its hash table on the left
        // side: the few markers, not the rows.
        let from = match self.dialect {
            Dialect::DataFusion => format!("{markers} d RIGHT JOIN {} s", rows.name),
            Dialect::Athena => format!("{} s LEFT JOIN {markers} d", rows.name),
        };
        let body = format!(
            "SELECT {cols} FROM {from} ON s.{id} = d.{id}\n\
             WHERE d.{id} IS NULL OR s.{ET} > d.{ET} OR (s.{ET} = d.{ET} AND (s.{API} > d.{API} OR (s.{API} = d.{API} AND s.{WT} > d.{WT})))",
            cols = cols.join(", "),
        );
        let name = self.push(&format!("g{k}_live"), body);
        Rel {
            name,
            columns: rows.columns,
        }
    }

    /// Step 5: each join in turn, point-in-time; returns the last relation
    /// and adds the joined features to `select`.
    fn joins(
        &mut self,
        mut entity: EntityRel,
        default_column: &str,
        select: &mut Vec<String>,
    ) -> Result<String> {
        for (i, join) in self.spec.joins.iter().enumerate() {
            let k = i + 1;
            let rows = self.join_rows(k, join)?;
            let id = q(&join.group.record_identifier_feature_name)?;
            let on = q(join.entity_column.as_deref().unwrap_or(default_column))?;
            let outputs = join.output_features();
            let mut picked = Vec::new();
            let mut carried_new = Vec::new();
            for (j, (out_name, feature)) in outputs.iter().enumerate() {
                let internal = format!("\"__fs_j{k}_{j}\"");
                picked.push(format!("g.{} AS {internal}", q(feature)?));
                carried_new.push(internal.clone());
                select.push(format!("{internal} AS {}", q(out_name)?));
            }
            if self.dialect == Dialect::DataFusion {
                let name =
                    self.join_by_keys(k, join, &entity, &rows, (&on, &id), (&picked, &carried_new));
                let mut columns = entity.rel.columns;
                columns.extend(carried_new);
                entity = EntityRel {
                    rel: Rel { name, columns },
                    time: entity.time,
                };
                continue;
            }
            let name = self.join_by_window(k, join, &entity, &rows, (&on, &id), &picked);
            let mut columns = entity.rel.columns;
            columns.extend(carried_new);
            entity = EntityRel {
                rel: Rel { name, columns },
                time: entity.time,
            };
        }
        Ok(entity.rel.name)
    }

    /// One point-in-time join without pairing each entity row with every
    /// earlier row of its record (the Athena shape): the group's rows are
    /// numbered oldest first per record (`__fs_ord`, by event time,
    /// `api_invocation_time`, `write_time`, `is_deleted`), put in one
    /// `UNION ALL` with the entity rows, and a running `max(__fs_ord)` per
    /// key, ordered by time with feature rows before entity rows at equal
    /// times, gives each entity row the number of the newest feature row at
    /// or before its time. An equi-join on (identifier, number) then fetches
    /// that one whole row (so null features stay null, not the last
    /// non-null value), with the `max_age` and delete-marker checks in its
    /// `ON` (a left join keeps the entity row with nulls). Cost: a sort of
    /// the n + m rows per key and two hash joins, not the pairs. Returns
    /// the new relation.
    fn join_by_window(
        &mut self,
        k: usize,
        join: &JoinSpec,
        entity: &EntityRel,
        rows: &Rel,
        (on, id): (&str, &str),
        picked: &[String],
    ) -> String {
        let time = entity.time;
        let oldest_first = format!(
            "{ET} ASC NULLS FIRST, {API} ASC NULLS FIRST, {WT} ASC NULLS FIRST, {DEL} ASC NULLS FIRST"
        );
        let body = format!(
            "SELECT *, row_number() OVER (PARTITION BY {id} ORDER BY {oldest_first}) AS {ORD} FROM {g}",
            g = rows.name
        );
        let numbered = self.push(&format!("e{k}_ord"), body);
        let e_cols = entity.rel.columns.join(", ");
        let nulls = vec!["NULL"; entity.rel.columns.len()].join(", ");
        let body = format!(
            "SELECT {e_cols}, {on} AS {KID}, {time} AS {UT}, 1 AS {SIDE}, CAST(NULL AS BIGINT) AS {ORD} FROM {e}\n\
             UNION ALL\n\
             SELECT {nulls}, {id}, {ET}, 0, {ORD} FROM {numbered}",
            e = entity.rel.name,
        );
        let union = self.push(&format!("e{k}_u"), body);
        let body = format!(
            "SELECT {e_cols}, {KID}, {UT}, {MORD} FROM (SELECT *, max({ORD}) OVER (PARTITION BY {KID} ORDER BY {UT} ASC NULLS LAST, {SIDE} ASC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS {MORD} FROM {union}) t\n\
             WHERE {SIDE} = 1"
        );
        let matched = self.push(&format!("e{k}_m"), body);
        let mut on_clause = format!(
            "g.{id} = m.{KID} AND g.{ORD} = m.{MORD} AND g.{ET} <= m.{UT} AND NOT coalesce(g.{DEL}, false)"
        );
        if let Some(ms) = join.max_age_ms() {
            on_clause.push_str(&format!(" AND g.{ET} >= m.{UT} - {ms}"));
        }
        let kind = match join.join_type {
            JoinType::Inner => "JOIN",
            JoinType::Left => "LEFT JOIN",
        };
        let mut cols: Vec<String> = entity
            .rel
            .columns
            .iter()
            .map(|c| format!("m.{c}"))
            .collect();
        cols.extend(picked.iter().cloned());
        let body = format!(
            "SELECT {cols} FROM {matched} m {kind} {numbered} g ON {on_clause}",
            cols = cols.join(", "),
        );
        self.push(&format!("e{k}"), body)
    }

    /// One point-in-time join without numbering or sorting the entity rows
    /// (the DataFusion shape): the match depends only on an entity row's
    /// (join key, time), so the newest matching row is picked per distinct
    /// pair, narrow, and the pairs' features are hash-joined back onto the
    /// entity rows (the pairs on the left: the hash table is built on
    /// them, not on the wide entity rows). Returns the new relation.
    ///
    /// `(on, id)`: the entity's join column and the group's identifier;
    /// `(picked, internal)`: the group's features as selected (`g.f AS
    /// "__fs_j…"`) and their internal names.
    fn join_by_keys(
        &mut self,
        k: usize,
        join: &JoinSpec,
        entity: &EntityRel,
        rows: &Rel,
        (on, id): (&str, &str),
        (picked, internal): (&[String], &[String]),
    ) -> String {
        let time = entity.time;
        let body = format!(
            "SELECT DISTINCT {on} AS {KID}, {time} AS {KET} FROM {e}",
            e = entity.rel.name
        );
        let keys = self.push(&format!("e{k}_keys"), body);
        let mut window = format!("g.{ET} <= x.{KET}");
        if let Some(ms) = join.max_age_ms() {
            window.push_str(&format!(" AND g.{ET} >= x.{KET} - {ms}"));
        }
        let gone = format!("\"__fs_j{k}_deleted\"");
        let body = format!(
            "SELECT {KID}, {KET}, {internal} FROM (SELECT x.{KID}, x.{KET}, {picked}, g.{DEL} AS {gone}, row_number() OVER (PARTITION BY x.{KID}, x.{KET} ORDER BY {order}) AS {RN}\n\
             FROM {keys} x JOIN {g} g ON x.{KID} = g.{id} AND {window}) t\nWHERE {RN} = 1 AND NOT coalesce({gone}, false)",
            internal = internal.join(", "),
            picked = picked.join(", "),
            order = newest_first("g.", true),
            g = rows.name,
        );
        let hits = self.push(&format!("e{k}_hits"), body);
        let kind = match join.join_type {
            JoinType::Inner => "JOIN",
            JoinType::Left => "RIGHT JOIN",
        };
        let mut cols: Vec<String> = entity
            .rel
            .columns
            .iter()
            .map(|c| format!("e.{c}"))
            .collect();
        cols.extend(internal.iter().map(|c| format!("h.{c}")));
        let body = format!(
            "SELECT {cols} FROM {hits} h {kind} {e} e ON e.{on} = h.{KID} AND e.{time} = h.{KET}",
            cols = cols.join(", "),
            e = entity.rel.name,
        );
        self.push(&format!("e{k}"), body)
    }

    /// A joined group's rows after steps 1–3. (Step 2 matters here: a
    /// marker superseded by a put at its own event time is collapsed away
    /// and hides nothing.)
    fn join_rows(&mut self, k: usize, join: &JoinSpec) -> Result<Rel> {
        let group = &join.group;
        let needed: Vec<String> = join.output_features().into_iter().map(|(_, f)| f).collect();
        let mut rows = self.group_source(k, group, &needed, false)?;
        let id = q(&group.record_identifier_feature_name)?;
        if !self.spec.include_duplicated_records {
            rows = self.dedupe(k, &id, rows);
        }
        if !self.spec.include_deleted_records {
            rows = self.hide_deleted(k, &id, rows);
        }
        Ok(rows)
    }

    fn time_ms(&self, column: &str, encoding: TimeEncoding) -> String {
        super::time_ms(self.dialect, column, encoding)
    }

    /// A UTC timestamp literal from an ISO-8601 string.
    fn timestamp(&self, iso: &str) -> Result<String> {
        let lit = quote_literal(iso)?;
        Ok(match self.dialect {
            Dialect::Athena => format!("from_iso8601_timestamp({lit})"),
            Dialect::DataFusion => format!("to_timestamp_millis({lit}, '%Y-%m-%dT%H:%M:%S%.3fZ')"),
        })
    }
}

fn q(name: &str) -> Result<String> {
    quote_ident(name)
}

fn push_unique(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|n| n == name) {
        list.push(name.to_string());
    }
}

fn check_own_name(name: &str, what: &str) -> Result<()> {
    if name
        .get(..RESERVED_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(RESERVED_PREFIX))
    {
        return Err(Error::InvalidDataset(format!(
            "{what} `{name}` starts with `{RESERVED_PREFIX}`, which is reserved for the SQL the dataset is rendered as"
        )));
    }
    Ok(())
}
