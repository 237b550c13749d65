//! Unit tests of the SQL renderer: quoting, table names, and that hostile
//! names and values stay data.

use std::time::Duration;

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};
use fs_schema::{
    DataCatalogConfig, EventTime, FeatureDefinition, FeatureGroup, OfflineStoreConfig,
};

use super::*;
use crate::spec::{DatasetBuilder, Entities, EntitySource, JoinSpec};

const EVIL: &str = "x\"; DROP TABLE t; -- /* */ 'y";

fn group(name: &str, fractional: bool) -> FeatureGroup {
    let et = if fractional {
        FeatureDefinition::fractional("ts")
    } else {
        FeatureDefinition::string("ts")
    };
    let mut offline = OfflineStoreConfig::new("s3://bucket/p");
    offline.data_catalog_config = Some(DataCatalogConfig {
        table_name: format!("{name}_1700000000"),
        catalog: "AwsDataCatalog".into(),
        database: "sagemaker_featurestore".into(),
    });
    FeatureGroup::builder(name, "id", "ts")
        .features([
            FeatureDefinition::string("id"),
            et,
            FeatureDefinition::integral("n"),
        ])
        .offline_store(offline)
        .build()
        .unwrap()
}

fn athena_tables(g: &FeatureGroup) -> Result<TableRef> {
    TableRef::athena(g)
}

/// The tokens of `sql` (in the generic dialect), checked to be one
/// statement without comments; returns the unquoted words.
fn check_tokens(sql: &str) -> (Vec<String>, Vec<String>) {
    let tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize().unwrap();
    let mut bare = Vec::new();
    let mut quoted = Vec::new();
    for t in tokens {
        match t {
            Token::SemiColon => panic!("a `;` outside quotes in:\n{sql}"),
            Token::Whitespace(
                Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
            ) => {
                panic!("a comment outside quotes in:\n{sql}")
            }
            Token::Word(w) if w.quote_style.is_none() => bare.push(w.value.to_ascii_uppercase()),
            Token::Word(w) => quoted.push(w.value),
            _ => {}
        }
    }
    let statements = Parser::parse_sql(&GenericDialect {}, sql).unwrap();
    assert_eq!(statements.len(), 1, "{sql}");
    (bare, quoted)
}

#[test]
fn identifiers_and_literals_double_their_quotes() {
    assert_eq!(quote_ident("a\"b").unwrap(), "\"a\"\"b\"");
    assert_eq!(quote_literal("it's").unwrap(), "'it''s'");
    assert!(quote_ident("").is_err());
    assert!(quote_ident("a\0b").is_err());
    assert!(quote_literal("a\0b").is_err());
    let t = TableRef::qualified(["c\"at", "db", "t"]);
    assert_eq!(t.to_sql().unwrap(), "\"c\"\"at\".\"db\".\"t\"");
}

#[test]
fn athena_table_names_come_from_the_data_catalog_config() {
    let g = group("orders", false);
    assert_eq!(
        TableRef::athena(&g).unwrap().to_sql().unwrap(),
        "\"AwsDataCatalog\".\"sagemaker_featurestore\".\"orders_1700000000\""
    );
    let mut bare = g.clone();
    bare.offline_store_config = Some(OfflineStoreConfig::new("s3://b/p"));
    let err = TableRef::athena(&bare).unwrap_err().to_string();
    assert!(
        err.contains("orders") && err.contains("DataCatalogConfig"),
        "{err}"
    );
}

#[test]
fn hostile_feature_table_and_column_names_stay_quoted_identifiers() {
    let mut base = group("orders", false);
    base.feature_definitions
        .push(FeatureDefinition::string(EVIL));
    let mut joined = group("customers", true);
    joined
        .feature_definitions
        .push(FeatureDefinition::integral(EVIL));
    let spec = DatasetBuilder::from_group(base)
        .as_of(EventTime::parse_iso("2024-06-01T00:00:00Z").unwrap())
        .event_time_range(
            Some(EventTime::parse_iso("2024-01-01T00:00:00Z").unwrap()),
            None,
        )
        .join(
            JoinSpec::new(joined)
                .features([EVIL])
                .prefix("c'; --")
                .max_age(Duration::from_secs(60)),
        )
        .build()
        .unwrap();
    let hostile_table = |g: &FeatureGroup| -> Result<TableRef> {
        Ok(TableRef::qualified([
            "cat\"; DELETE FROM x; --",
            &g.feature_group_name,
        ]))
    };
    for dialect in [Dialect::Athena, Dialect::DataFusion] {
        for tables in [
            &athena_tables as &dyn Fn(&FeatureGroup) -> Result<TableRef>,
            &hostile_table,
        ] {
            let sql = render(&spec, dialect, tables).unwrap();
            let (bare, quoted) = check_tokens(&sql);
            for word in ["DROP", "DELETE", "TABLE"] {
                assert!(
                    !bare.contains(&word.to_string()),
                    "{word} unquoted in:\n{sql}"
                );
            }
            assert!(quoted.iter().any(|q| q == EVIL), "{sql}");
            assert!(
                quoted.iter().any(|q| q == &format!("c'; --{EVIL}")),
                "{sql}"
            );
        }
    }
}

#[test]
fn hostile_entity_columns_stay_quoted_and_reserved_names_are_refused() {
    let entities = Entities {
        source: EntitySource::File("unused.parquet".into()),
        id_column: EVIL.into(),
        time_column: "at".into(),
    };
    let spec = DatasetBuilder::from_entities(entities)
        .join(JoinSpec::new(group("customers", false)))
        .build()
        .unwrap();
    let table = EntityTable {
        table: TableRef::qualified(["db", "my \"entities\""]),
        columns: vec![EVIL.into(), "at".into()],
        time_encoding: TimeEncoding::Timestamp,
    };
    for dialect in [Dialect::Athena, Dialect::DataFusion] {
        let sql = render_with_entities(&spec, dialect, &athena_tables, &table).unwrap();
        let (bare, quoted) = check_tokens(&sql);
        assert!(!bare.contains(&"DROP".to_string()), "{sql}");
        assert!(quoted.iter().any(|q| q == EVIL));
        assert!(quoted.iter().any(|q| q == "my \"entities\""));
    }
    assert!(render(&spec, Dialect::Athena, &athena_tables).is_err());
    let mut reserved = table.clone();
    reserved.columns.push("__fs_row".into());
    let err = render_with_entities(&spec, Dialect::Athena, &athena_tables, &reserved).unwrap_err();
    assert!(err.to_string().contains("__fs_row"), "{err}");
    let mut clash = table;
    clash.columns.push("N".into());
    let err = render_with_entities(&spec, Dialect::Athena, &athena_tables, &clash).unwrap_err();
    assert!(err.to_string().contains("clashes"), "{err}");
}

#[test]
fn event_times_are_normalised_per_dialect_and_type() {
    let spec = |fractional: bool| {
        DatasetBuilder::from_group(group("g", fractional))
            .as_of(EventTime::parse_iso("2024-06-01T00:00:00Z").unwrap())
            .build()
            .unwrap()
    };
    let athena = render(&spec(false), Dialect::Athena, &athena_tables).unwrap();
    assert!(
        athena
            .contains("CAST(round(to_unixtime(from_iso8601_timestamp(\"ts\")) * 1000) AS BIGINT)")
    );
    assert!(
        athena.contains("\"write_time\" <= from_iso8601_timestamp('2024-06-01T00:00:00.000Z')")
    );
    let athena = render(&spec(true), Dialect::Athena, &athena_tables).unwrap();
    assert!(athena.contains("CAST(round(\"ts\" * 1000) AS BIGINT)"));
    let df = render(&spec(false), Dialect::DataFusion, &athena_tables).unwrap();
    assert!(df.contains("CAST(to_timestamp_millis(\"ts\") AS BIGINT)"));
    assert!(!df.contains("from_iso8601"));
}

#[test]
fn entity_time_encodings_follow_the_arrow_type() {
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    let schema = Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("t_str", DataType::Utf8, false),
        Field::new("t_f", DataType::Float64, false),
        Field::new(
            "t_ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("flag", DataType::Boolean, false),
    ]);
    let enc =
        |c: &str| EntityTable::from_schema(TableRef::new("e"), &schema, c).map(|e| e.time_encoding);
    assert_eq!(enc("t_str").unwrap(), TimeEncoding::Iso8601);
    assert_eq!(enc("t_f").unwrap(), TimeEncoding::FractionalSeconds);
    assert_eq!(enc("t_ts").unwrap(), TimeEncoding::Timestamp);
    assert!(enc("flag").is_err());
    assert!(enc("missing").is_err());
}
