use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::config::Config;
use crate::store::User;
use crate::time::iso;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3–150 letters, digits and `@.+-_`; unique ignoring case.
    #[schema(min_length = 3, max_length = 150, pattern = r"^[\w@.+-]+$")]
    pub username: String,
    /// At least 8 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    /// An address (`name@domain.tld`, at most 254 bytes); blank is none. The
    /// pattern is what `validate_email` takes (one `@`, a dot inside the domain,
    /// no spaces) around the spaces it trims.
    #[serde(default)]
    #[schema(max_length = 254, pattern = r"^\s*([^@\s]+@[^@\s.][^@\s]*\.[^@\s]*[^@\s.])?\s*$")]
    pub email: Option<String>,
}

/// Log in with the username or the e-mail address.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    /// ISO 8601, UTC.
    pub date_joined: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            date_joined: iso(user.date_joined),
        }
    }
}

/// The answer to register (201) and login (200).
#[derive(Serialize, ToSchema)]
pub struct AuthResponse {
    pub message: String,
    /// Send as `Authorization: Token <token>`; shown only here.
    pub token: String,
    pub user: UserView,
    /// The token balance.
    pub tokens: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ProfileView {
    pub user: UserView,
    pub tokens: i64,
    pub is_active: bool,
    /// The admin role, stored on the account and granted only by the operator
    /// (`chatbot-admin grant`).
    pub is_admin: bool,
    /// The zone times are displayed in for this user.
    pub time_zone: String,
}

impl ProfileView {
    pub fn build(user: &User, config: &Config) -> Self {
        Self {
            user: user.into(),
            tokens: user.tokens,
            is_active: user.is_active,
            is_admin: user.is_admin,
            time_zone: user
                .time_zone
                .clone()
                .unwrap_or_else(|| Tz::name(config.display_time_zone).to_string()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// A new address, or `null` (or blank) to remove it.
    #[serde(default, deserialize_with = "crate::surfaces::shapes::present")]
    #[schema(value_type = Option<String>, max_length = 254, pattern = r"^\s*([^@\s]+@[^@\s.][^@\s]*\.[^@\s]*[^@\s.])?\s*$")]
    pub email: Option<Option<String>>,
    /// An IANA zone name, or `null` (or a blank string) for the server's default.
    #[serde(default, deserialize_with = "crate::surfaces::shapes::present")]
    #[schema(schema_with = zone_or_default)]
    pub time_zone: Option<Option<String>>,
    /// Changing the password signs out every other token.
    #[serde(default)]
    pub password: Option<PasswordChange>,
}

/// The profile's `time_zone`: a zone (the `TimeZone` component), or `null` or a
/// blank string for the default.
fn zone_or_default() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
    AnyOfBuilder::new()
        .item(utoipa::openapi::Ref::from_schema_name("TimeZone"))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^\s*$")))
        .build()
        .into()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub old: String,
    /// At least 8 characters, as at registration.
    #[schema(min_length = 8, max_length = 1024)]
    pub new: String,
}

#[derive(Serialize, ToSchema)]
pub struct AccountStatusView {
    pub message: String,
    pub username: String,
    pub is_active: bool,
}
