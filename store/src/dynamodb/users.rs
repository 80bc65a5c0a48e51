//! Accounts, their unique names, tokens and rate-limit counters (the balance's
//! charges and refunds are `holds.rs`).

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update as TxUpdate};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::items::{
    from_item, millis, number, to_item, ttl_seconds, ApiKeyItem, ClaimItem, ShareItem, TokenItem, UserItem,
};
use super::keys::{self, EXPIRES_AT, PK, SK};
use super::requests::{
    cancellation_reasons, classify, delete_keys, internal, is_condition_failed, key, key_of, n, query_all, s,
    sdk_error, Cancelled, Update, TRANSACTION_ATTEMPTS,
};
use super::DynamoStore;
use crate::{AuthToken, StoreError, StoreResult, User, UserChanges};

/// Actions of the registration transaction, in order: a failed condition's index
/// names the field that is taken.
const PROFILE_ACTION: usize = 0;
const USERNAME_ACTION: usize = 1;
const EMAIL_ACTION: usize = 2;

/// Attempts of a profile update that found the email changed under it.
const UPDATE_ATTEMPTS: u32 = 3;
impl DynamoStore {
    pub(super) fn put(&self, item: crate::dynamodb::items::Item, condition: Option<&str>) -> StoreResult<Put> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(String::from))
            .build()
            .map_err(|e| internal(format!("a transaction put: {e}")))
    }

    pub(super) async fn create_user(&self, user: &User) -> StoreResult<()> {
        let absent = Some("attribute_not_exists(pk)");
        let mut actions = vec![
            self.put(to_item(&UserItem::new(user))?, absent)?,
            self.put(to_item(&ClaimItem::username(&user.username, user.id))?, absent)?,
        ];
        if let Some(email) = &user.email {
            actions.push(self.put(to_item(&ClaimItem::email(email, user.id))?, absent)?);
        }
        let actions: Vec<_> = actions
            .into_iter()
            .map(|put| TransactWriteItem::builder().put(put).build())
            .collect();
        match self.transact("create_user", actions).await? {
            None => Ok(()),
            Some(USERNAME_ACTION) => Err(StoreError::Conflict { field: "username" }),
            Some(EMAIL_ACTION) => Err(StoreError::Conflict { field: "email" }),
            Some(PROFILE_ACTION) => Err(internal("a user with this id exists")),
            Some(_) => Err(internal("registration cancelled")),
        }
    }

    /// Runs a transaction, trying again when it lost to a concurrent one. `Some`:
    /// the index of the action whose condition failed (nothing was written).
    pub(super) async fn transact(&self, op: &str, actions: Vec<TransactWriteItem>) -> StoreResult<Option<usize>> {
        for _ in 0..TRANSACTION_ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(actions.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(None),
                Err(err) => err,
            };
            match cancellation_reasons(&err).as_deref().map(classify) {
                Some(Cancelled::Condition(index)) => return Ok(Some(index)),
                Some(Cancelled::Contention) => continue,
                Some(Cancelled::Throttled) => return Err(StoreError::Unavailable(format!("DynamoDB {op}: throttled"))),
                _ => return Err(sdk_error(op, err)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "DynamoDB {op}: kept conflicting with concurrent transactions"
        )))
    }

    pub(super) async fn profile(&self, id: Uuid) -> StoreResult<Option<UserItem>> {
        match self.get(keys::user_pk(id), keys::PROFILE).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
    }

    pub(super) async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        Ok(self.profile(id).await?.map(UserItem::into_user))
    }

    /// Follows a claim item to its user: two reads.
    pub(super) async fn user_by_claim(&self, pk: String, sk: &str) -> StoreResult<Option<User>> {
        let Some(item) = self.get(pk, sk).await? else {
            return Ok(None);
        };
        let claim: ClaimItem = from_item(item)?;
        self.user_by_id(claim.user_id).await
    }

    pub(super) async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        self.user_by_claim(keys::username_pk(username), keys::USERNAME).await
    }

    pub(super) async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let user = self.user_by_claim(keys::email_pk(email), keys::EMAIL).await?;
        // A claim whose user has since changed address no longer names them.
        Ok(user.filter(|u| u.email.as_deref().map(keys::name_key) == Some(keys::name_key(email))))
    }

    /// Saves the fields `changes` names, with one UpdateItem conditioned on what was
    /// read (the email claim it owns, and the password hash a password change
    /// replaces). A change of email moves its claim in the same transaction as the
    /// profile; a concurrent change of the address makes the update read again.
    pub(super) async fn update_user(&self, id: Uuid, changes: &UserChanges) -> StoreResult<()> {
        for _ in 0..UPDATE_ATTEMPTS {
            let Some(current) = self.profile(id).await? else {
                return Ok(());
            };
            if changes
                .password
                .as_ref()
                .is_some_and(|p| p.from != current.password_hash)
            {
                return Err(StoreError::Conflict { field: "password" });
            }
            let old_key = current.email_key.clone();
            let new_key = match &changes.email {
                Some(email) => email.as_deref().map(keys::name_key),
                None => old_key.clone(),
            };
            let mut update = Update::new().name(PK);
            if let Some(email) = &changes.email {
                update = update
                    .set_or_remove("email", email.clone().map(s))
                    .set_or_remove("email_key", new_key.clone().map(s));
            }
            if let Some(zone) = &changes.time_zone {
                update = update.set_or_remove("time_zone", zone.clone().map(s));
            }
            if let Some(password) = &changes.password {
                update = update
                    .set("password_hash", s(&password.to))
                    .value(":old_password_hash", s(&password.from));
            }
            if let Some(active) = changes.is_active {
                update = update.set("is_active", AttributeValue::Bool(active));
            }
            if let Some(admin) = changes.is_admin {
                update = update.set("is_admin", AttributeValue::Bool(admin));
            }
            if update.is_empty() {
                return Ok(());
            }
            let mut condition = String::from("attribute_exists(#pk)");
            if changes.email.is_some() {
                update = update.name("email_key");
                match &old_key {
                    Some(old) => {
                        update = update.value(":old_email_key", s(old));
                        condition.push_str(" AND #email_key = :old_email_key");
                    }
                    None => condition.push_str(" AND attribute_not_exists(#email_key)"),
                }
            }
            if changes.password.is_some() {
                update = update.name("password_hash");
                condition.push_str(" AND #password_hash = :old_password_hash");
            }
            let profile_key = key(keys::user_pk(id), keys::PROFILE);
            if old_key == new_key {
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(profile_key))
                    .update_expression(update.expression())
                    .condition_expression(&condition)
                    .set_expression_attribute_names(Some(update.names.clone()))
                    .set_expression_attribute_values(update.values_or_none())
                    .send()
                    .await;
                match result {
                    Ok(_) => return Ok(()),
                    // Read again: gone, moved address or replaced password.
                    Err(err) if is_condition_failed(&err) => continue,
                    Err(err) => return Err(sdk_error("update_user", err)),
                }
            }
            let profile = TxUpdate::builder()
                .table_name(&self.table)
                .set_key(Some(profile_key))
                .update_expression(update.expression())
                .condition_expression(&condition)
                .set_expression_attribute_names(Some(update.names.clone()))
                .set_expression_attribute_values(update.values_or_none())
                .build()
                .map_err(|e| internal(format!("a profile update: {e}")))?;
            let mut actions = vec![TransactWriteItem::builder().update(profile).build()];
            if let Some(old) = &old_key {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(keys::email_pk(old), keys::EMAIL)))
                    .build()
                    .map_err(|e| internal(format!("a claim delete: {e}")))?;
                actions.push(TransactWriteItem::builder().delete(delete).build());
            }
            let claim_action = actions.len();
            if let Some(Some(email)) = &changes.email {
                let claim = self.put(to_item(&ClaimItem::email(email, id))?, Some("attribute_not_exists(pk)"))?;
                actions.push(TransactWriteItem::builder().put(claim).build());
            }
            match self.transact("update_user", actions).await? {
                None => return Ok(()),
                Some(failed) if failed == claim_action => return Err(StoreError::Conflict { field: "email" }),
                // The profile changed since it was read: read it again.
                Some(_) => continue,
            }
        }
        Err(internal("update_user: the profile kept changing"))
    }

    /// Removes the user's partition (profile, token and chat entries), the chats
    /// those entries name with all their messages, the token lookups and the claims.
    pub(super) async fn delete_user(&self, id: Uuid) -> StoreResult<()> {
        let items = query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(keys::user_pk(id)))
                .consistent_read(true),
        )
        .await?;
        let mut doomed = Vec::new();
        let mut chats = Vec::new();
        for item in &items {
            let sk = item
                .get(SK)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                .unwrap_or("");
            if sk == keys::PROFILE {
                let profile: UserItem = from_item(item.clone())?;
                doomed.push(key(keys::username_pk(&profile.username), keys::USERNAME));
                if let Some(email) = &profile.email_key {
                    doomed.push(key(keys::email_pk(email), keys::EMAIL));
                }
            } else if let Some(digest) = sk.strip_prefix(keys::TOKEN_PREFIX) {
                doomed.push(key(keys::token_pk(digest), keys::TOKEN));
            } else if sk.starts_with(keys::API_KEY_PREFIX) {
                let entry: ApiKeyItem = from_item(item.clone())?;
                doomed.push(key(keys::api_key_pk(&entry.digest), keys::API_KEY));
            } else if sk.starts_with(keys::SHARE_PREFIX) {
                // Gone with its chat's partition already; here too, so no snapshot
                // outlives its owner whatever happened to the chat.
                let entry: ShareItem = from_item(item.clone())?;
                doomed.push(key(keys::shared_pk(&entry.share_id), keys::SHARE));
            } else if let Some(chat) = sk.strip_prefix(keys::CHAT_PREFIX) {
                let chat = Uuid::parse_str(chat).map_err(|_| internal(format!("a chat entry {sk:?}")))?;
                chats.push(chat);
            }
            doomed.push(key_of(item)?);
        }
        // Chats first: should this stop half-way, the user's entries still lead a
        // second delete to what is left.
        self.delete_chat_partitions(&chats).await?;
        delete_keys(&self.client, &self.table, doomed).await
    }

    /// Every profile with the admin role: a Scan of the whole table with a filter,
    /// page after page. That costs a read of every item, which is acceptable for
    /// the operator command, its only caller (no route lists admins, so no
    /// function's policy grants Scan, and no index is kept for it).
    pub(super) async fn admins(&self) -> StoreResult<Vec<User>> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("#kind = :user AND #is_admin = :yes")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#is_admin", "is_admin")
            .expression_attribute_values(":user", s("user"))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut admins = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("scan", e))?;
            for item in page.items.unwrap_or_default() {
                admins.push(from_item::<UserItem>(item)?.into_user());
            }
        }
        admins.sort_by_key(|user| keys::name_key(&user.username));
        Ok(admins)
    }

    /// Writes the token's lookup item and its entry under the owner together.
    pub(super) async fn insert_token(&self, token: &AuthToken) -> StoreResult<()> {
        let actions = [TokenItem::lookup(token), TokenItem::entry(token)]
            .iter()
            .map(|item| {
                Ok(TransactWriteItem::builder()
                    .put(self.put(to_item(item)?, None)?)
                    .build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.transact("insert_token", actions).await.map(|_| ())
    }

    pub(super) async fn user_by_token(&self, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<User>> {
        let Some(item) = self.get(keys::token_pk(digest), keys::TOKEN).await? else {
            return Ok(None);
        };
        let token: TokenItem = from_item(item)?;
        // TTL deletes lazily (within days): the expiry itself is checked here.
        if token.expires_ms <= millis(now) {
            return Ok(None);
        }
        self.user_by_id(token.user_id).await
    }

    pub(super) async fn delete_token(&self, digest: &str) -> StoreResult<()> {
        let old = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::token_pk(digest), keys::TOKEN)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("delete_item", e))?;
        let Some(old) = old.attributes.filter(|a| !a.is_empty()) else {
            return Ok(());
        };
        let token: TokenItem = from_item(old)?;
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(token.user_id), keys::token_entry_sk(digest))))
            .send()
            .await
            .map_err(|e| sdk_error("delete_item", e))?;
        Ok(())
    }

    pub(super) async fn delete_tokens_of(&self, user_id: Uuid, keep: Option<&str>) -> StoreResult<()> {
        let entries = query_all(
            self.prefixed(keys::user_pk(user_id), keys::TOKEN_PREFIX)
                .projection_expression("#pk, #sk"),
        )
        .await?;
        let mut doomed = Vec::new();
        for entry in &entries {
            let sk = entry
                .get(SK)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                .unwrap_or("");
            let Some(digest) = sk.strip_prefix(keys::TOKEN_PREFIX) else {
                continue;
            };
            if Some(digest) == keep {
                continue;
            }
            doomed.push(key(keys::token_pk(digest), keys::TOKEN));
            doomed.push(key_of(entry)?);
        }
        delete_keys(&self.client, &self.table, doomed).await
    }

    /// One atomic counter per window; TTL removes it after `expires_at`.
    pub(super) async fn count_hit(&self, window: &str, expires_at: DateTime<Utc>) -> StoreResult<u64> {
        let answer = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::rate_pk(window), keys::RATE)))
            .update_expression("ADD #hits :one SET #expires = :expires, #kind = :kind")
            .expression_attribute_names("#hits", "hits")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n(ttl_seconds(expires_at)))
            .expression_attribute_values(":kind", s("rate_limit"))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_error("count_hit", e))?;
        let hits = number(&answer.attributes.unwrap_or_default(), "hits")?;
        Ok(hits.max(0) as u64)
    }
}
