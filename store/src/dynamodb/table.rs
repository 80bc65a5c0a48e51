//! The table's definition, kept once in `infra/table.json` (the same properties as
//! `template.yaml`'s `Table`, which a test compares), and its creation on a local
//! endpoint when it is missing, so a laptop needs no setup step.

use std::time::Duration;

use anyhow::{bail, Context as _};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, LocalSecondaryIndex, Projection, ProjectionType,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde::Deserialize;
use tracing::Instrument as _;

/// `infra/table.json`: CloudFormation's property names, so the template test can
/// compare it with `template.yaml` value for value.
pub const DEFINITION_JSON: &str = include_str!("../../../infra/table.json");

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TableDefinition {
    pub billing_mode: String,
    pub attribute_definitions: Vec<Attribute>,
    pub key_schema: Vec<KeyElement>,
    pub local_secondary_indexes: Vec<Index>,
    pub time_to_live_specification: TimeToLive,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Attribute {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Index {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: IndexProjection,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct IndexProjection {
    pub projection_type: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TimeToLive {
    pub attribute_name: String,
    pub enabled: bool,
}

pub fn definition() -> anyhow::Result<TableDefinition> {
    serde_json::from_str(DEFINITION_JSON).context("infra/table.json is not a table definition")
}

/// How long a local table may take to become active.
const ACTIVE_POLLS: u32 = 100;
const POLL_EVERY: Duration = Duration::from_millis(100);

/// Creates `name` from the definition unless it exists; true when it created it.
/// Several functions start at once under `cargo lambda watch`, so losing the race to
/// another creator is success too.
pub async fn create_if_missing(client: &Client, name: &str) -> anyhow::Result<bool> {
    create(client, name)
        .instrument(tracing::info_span!("dynamodb_table", table = name))
        .await
}

/// Whether the table exists (one DescribeTable).
pub async fn exists(client: &Client, name: &str) -> anyhow::Result<bool> {
    match client.describe_table().table_name(name).send().await {
        Ok(_) => Ok(true),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(err) => bail!("describing table {name}: {}", DisplayErrorContext(&err)),
    }
}

async fn create(client: &Client, name: &str) -> anyhow::Result<bool> {
    if exists(client, name).await? {
        return Ok(false);
    }
    let def = definition()?;
    let created = match create_request(client, name, &def)?.send().await {
        Ok(_) => true,
        Err(err) if err.code() == Some("ResourceInUseException") => false,
        Err(err) => bail!("creating table {name}: {}", DisplayErrorContext(&err)),
    };
    wait_until_active(client, name).await?;
    if created && def.time_to_live_specification.enabled {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(&def.time_to_live_specification.attribute_name)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("enabling TTL on {name}: {}", DisplayErrorContext(&err)))?;
        tracing::info!(table = name, "created the DynamoDB table");
    }
    Ok(created)
}

fn create_request(
    client: &Client,
    name: &str,
    def: &TableDefinition,
) -> anyhow::Result<aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(def.billing_mode.as_str()));
    for attribute in &def.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&attribute.attribute_name)
                .attribute_type(ScalarAttributeType::from(attribute.attribute_type.as_str()))
                .build()?,
        );
    }
    request = request.set_key_schema(Some(key_schema(&def.key_schema)?));
    for index in &def.local_secondary_indexes {
        request = request.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(key_schema(&index.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(index.projection.projection_type.as_str()))
                        .build(),
                )
                .build()?,
        );
    }
    Ok(request)
}

fn key_schema(elements: &[KeyElement]) -> anyhow::Result<Vec<KeySchemaElement>> {
    elements
        .iter()
        .map(|e| {
            KeySchemaElement::builder()
                .attribute_name(&e.attribute_name)
                .key_type(KeyType::from(e.key_type.as_str()))
                .build()
                .map_err(Into::into)
        })
        .collect()
}

async fn wait_until_active(client: &Client, name: &str) -> anyhow::Result<()> {
    for _ in 0..ACTIVE_POLLS {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("describing table {name}: {}", DisplayErrorContext(&err)))?;
        if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    bail!("table {name} did not become active")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_parses_and_every_index_key_is_defined() {
        let def = definition().unwrap();
        let defined: Vec<&str> = def
            .attribute_definitions
            .iter()
            .map(|a| a.attribute_name.as_str())
            .collect();
        for index in &def.local_secondary_indexes {
            for key in &index.key_schema {
                assert!(defined.contains(&key.attribute_name.as_str()), "{}", key.attribute_name);
            }
            assert_eq!(index.key_schema[0].attribute_name, def.key_schema[0].attribute_name);
        }
        let names: Vec<&str> = def
            .local_secondary_indexes
            .iter()
            .map(|i| i.index_name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                super::super::keys::BY_TIME,
                super::super::keys::OPEN_CHATS,
                super::super::keys::BY_REPLY
            ]
        );
        assert_eq!(
            def.time_to_live_specification.attribute_name,
            super::super::keys::EXPIRES_AT
        );
    }
}
