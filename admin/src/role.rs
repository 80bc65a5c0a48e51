//! The admin role of one account, changed by the account's id (never its name,
//! which a deleted account frees for someone else) and only that field, so it
//! never undoes a concurrent profile edit or deactivation.

use chatbot_core::store::{Accounts, StoreError, User, UserChanges};

#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("no account is named {0:?}")]
    UnknownUser(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a grant or revoke did.
#[derive(Debug)]
pub struct RoleChange {
    /// The account as stored afterwards.
    pub user: User,
    /// False when the account already had the role asked for (nothing written).
    pub changed: bool,
}

/// Makes the account named `username` (case-insensitively) an admin.
pub async fn grant<A: Accounts + ?Sized>(accounts: &A, username: &str) -> Result<RoleChange, RoleError> {
    set_admin(accounts, username, true).await
}

/// Takes the admin role from the account named `username`.
pub async fn revoke<A: Accounts + ?Sized>(accounts: &A, username: &str) -> Result<RoleChange, RoleError> {
    set_admin(accounts, username, false).await
}

async fn set_admin<A: Accounts + ?Sized>(accounts: &A, username: &str, admin: bool) -> Result<RoleChange, RoleError> {
    let unknown = || RoleError::UnknownUser(username.to_string());
    let user = accounts.user_by_username(username).await?.ok_or_else(unknown)?;
    if user.is_admin == admin {
        return Ok(RoleChange { user, changed: false });
    }
    let changes = UserChanges {
        is_admin: Some(admin),
        ..UserChanges::default()
    };
    accounts.update_user(user.id, &changes).await?;
    // An update of a missing account writes nothing and is no error: read it back,
    // so an account deleted meanwhile is reported instead of a change that did not
    // happen.
    let user = accounts.user_by_id(user.id).await?.ok_or_else(unknown)?;
    Ok(RoleChange { user, changed: true })
}
