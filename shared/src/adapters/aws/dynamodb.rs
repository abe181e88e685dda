//! DynamoDB's JSON protocol (AWS JSON 1.0) for the operations the event store makes: `PutItem`,
//! `GetItem`, `UpdateItem`, `BatchGetItem`, `Query` and `Scan`, each one signed request on the
//! process's HTTP client ([`RestClient`]), with its retries and error classification.
//!
//! No `aws-sdk-dynamodb` client in the functions: building one parsed the SDK's copy of AWS's
//! partition table (0.7 M instructions of each function's cold start, the last SDK client's),
//! and its orchestrator and serializers were the largest AWS code left in the bootstraps.
//! Items are `serde_dynamo`'s [`AttributeValue`] maps, which serialize to DynamoDB's JSON as is.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
pub use serde_dynamo::AttributeValue;

use super::error::{AwsError, AwsErrorKind};
use super::rest::{RestClient, RestRequest, Service, json_answer};

/// An item, a key, or a set of expression values.
pub type Item = HashMap<String, AttributeValue>;

/// The fields of the single-table operations' requests; each operation sets those it takes.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request<'a> {
    pub table_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a Item>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<&'a Item>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_condition_expression: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_expression: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition_expression: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_expression: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression_attribute_names: Option<&'a HashMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression_attribute_values: Option<&'a Item>,
    /// `NONE`, `ALL_OLD`, `ALL_NEW`…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_values: Option<&'static str>,
    /// `ALL_OLD`: a failed condition answers with the item as it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_values_on_condition_check_failure: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistent_read: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan_index_forward: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusive_start_key: Option<&'a Item>,
}

/// The keys `BatchGetItem` reads from one table, and those it left unprocessed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeysAndAttributes {
    pub keys: Vec<Item>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistent_read: Option<bool>,
}

/// What the operations answer (each fills its own fields; the rest are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Answer {
    /// `GetItem`.
    pub item: Option<Item>,
    /// `PutItem` / `UpdateItem` with `ReturnValues`.
    pub attributes: Option<Item>,
    /// `Query` / `Scan`.
    pub items: Option<Vec<Item>>,
    pub last_evaluated_key: Option<Item>,
    /// `BatchGetItem`, by table.
    pub responses: Option<HashMap<String, Vec<Item>>>,
    pub unprocessed_keys: Option<HashMap<String, KeysAndAttributes>>,
}

/// A conditional write: done, or its condition did not hold (with the item as it was, if it
/// existed and `ALL_OLD` was asked for).
#[derive(Debug)]
pub enum Written {
    Done(Box<Answer>),
    ConditionFailed(Option<Item>),
}

/// The DynamoDB client of the functions. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DynamoDb {
    client: RestClient,
}

impl DynamoDb {
    /// No network call. `Err` says why the SDK config cannot reach DynamoDB (no region, no
    /// credentials provider, an unusable endpoint URL).
    pub fn from_sdk(sdk: &aws_types::SdkConfig) -> Result<Self, String> {
        RestClient::from_sdk(sdk, Service::DynamoDb).map(Self::new)
    }

    pub fn new(client: RestClient) -> Self {
        Self { client }
    }

    /// Sends one operation (`PutItem`, `Query`…) and reads its answer.
    pub async fn call(
        &self,
        operation: &'static str,
        input: &impl Serialize,
    ) -> Result<Answer, AwsError> {
        let request = RestRequest::aws_json("1.0", format!("DynamoDB_20120810.{operation}"), input);
        let base = self.client.endpoint().base.clone();
        let response = self.client.send(operation, &base, &request).await?;
        json_answer(operation, &response.body)
    }

    /// A conditional write (`PutItem`, `UpdateItem`): a failed condition is an outcome, not an
    /// error.
    pub async fn write(
        &self,
        operation: &'static str,
        input: &Request<'_>,
    ) -> Result<Written, AwsError> {
        match self.call(operation, input).await {
            Ok(answer) => Ok(Written::Done(Box::new(answer))),
            Err(e) if e.code_is("ConditionalCheckFailedException") => {
                #[derive(Deserialize)]
                struct Failed {
                    #[serde(rename = "Item")]
                    item: Option<Item>,
                }
                let body = e.answer.as_ref().map(|a| a.0.clone()).unwrap_or_default();
                match serde_json::from_slice::<Failed>(&body) {
                    Ok(failed) => Ok(Written::ConditionFailed(failed.item)),
                    Err(parse) => Err(AwsError {
                        kind: AwsErrorKind::Response,
                        message: format!("unreadable ConditionalCheckFailedException: {parse}"),
                        answer: None,
                        ..e
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `BatchGetItem` of `keys` in `table`.
    pub async fn batch_get(
        &self,
        table: &str,
        keys: &KeysAndAttributes,
    ) -> Result<Answer, AwsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct BatchGet<'a> {
            request_items: HashMap<&'a str, &'a KeysAndAttributes>,
        }
        let input = BatchGet {
            request_items: HashMap::from([(table, keys)]),
        };
        self.call("BatchGetItem", &input).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_only_the_fields_set() {
        let key = Item::from([("event_id".to_owned(), AttributeValue::S("e1".into()))]);
        let names = HashMap::from([("#s".to_owned(), "status".to_owned())]);
        let values = Item::from([
            (":b".to_owned(), AttributeValue::B(vec![0, 255])),
            (":n".to_owned(), AttributeValue::N("7".into())),
        ]);
        let request = Request {
            table_name: "t",
            key: Some(&key),
            update_expression: Some("SET #s = :n"),
            expression_attribute_names: Some(&names),
            expression_attribute_values: Some(&values),
            return_values: Some("ALL_NEW"),
            consistent_read: Some(true),
            ..Request::default()
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            serde_json::json!({
                "TableName": "t",
                "Key": {"event_id": {"S": "e1"}},
                "UpdateExpression": "SET #s = :n",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":b": {"B": "AP8="}, ":n": {"N": "7"}},
                "ReturnValues": "ALL_NEW",
                "ConsistentRead": true
            })
        );
    }

    #[test]
    fn answers_are_read_and_unknown_fields_ignored() {
        let answer: Answer = serde_json::from_str(
            r#"{"Items":[{"a":{"M":{"x":{"L":[{"BOOL":true},{"NULL":true}]}}}}],
                "Count":1,"ScannedCount":3,
                "LastEvaluatedKey":{"event_id":{"S":"e2"}},
                "UnprocessedKeys":{"t":{"Keys":[{"event_id":{"S":"e3"}}],"ConsistentRead":true}}}"#,
        )
        .unwrap();
        let items = answer.items.unwrap();
        assert_eq!(items.len(), 1);
        assert!(matches!(items[0].get("a"), Some(AttributeValue::M(_))));
        assert_eq!(
            answer.last_evaluated_key.unwrap().get("event_id"),
            Some(&AttributeValue::S("e2".into()))
        );
        assert_eq!(answer.unprocessed_keys.unwrap()["t"].keys.len(), 1);
    }
}
