//! The AWS backend: DynamoDB store, SQS queues, Secrets Manager.
