//! Logging an account in: login code, then the 2FA password when the account has one.
//!
//! The flow asks a [`Prompt`] for secrets, so the CLI can read them from the terminal (hidden for the
//! password), from a file or standard input, or from the environment, and tests can script them. A wrong
//! code or password is asked again, three attempts in all. Secrets are never logged.

use grammers_client::client::PasswordToken;
use grammers_client::{Client, SignInError};
use grammers_mtsender::InvocationError;

/// Attempts allowed for the code and, separately, for the password.
pub(crate) const ATTEMPTS: u32 = 3;

/// Where login secrets come from.
pub(crate) trait Prompt {
    /// The login code; `attempt` starts at 1.
    fn code(&mut self, phone: &str, attempt: u32) -> Result<String, LoginError>;
    /// The 2FA password; `hint` is the account's password hint.
    fn password(&mut self, hint: Option<&str>, attempt: u32) -> Result<String, LoginError>;
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoginError {
    /// Telegram does not know the phone number.
    #[error(
        "Telegram does not know the phone number {0}: check it (international form, e.g. +441234567890)"
    )]
    PhoneInvalid(String),
    /// Three wrong codes.
    #[error("the login code was wrong {ATTEMPTS} times: run the command again to get a new code")]
    TooManyCodes,
    /// Three wrong passwords (or the one given non-interactively was wrong).
    #[error("the 2FA password was wrong {0} time(s): check it and run the command again")]
    WrongPassword(u32),
    /// The phone has no Telegram account.
    #[error("this phone number has no Telegram account: sign up with an official app first")]
    SignUpRequired,
    /// No more input (end of the code file, no terminal, no password in the environment).
    #[error("{0}")]
    NoInput(String),
    /// A network or server error.
    #[error("login failed: {0}")]
    Telegram(String),
}

pub(crate) fn telegram(e: InvocationError) -> LoginError {
    match &e {
        InvocationError::Rpc(r)
            if r.name == "PHONE_NUMBER_INVALID" || r.name == "PHONE_NUMBER_UNOCCUPIED" =>
        {
            LoginError::PhoneInvalid(String::new())
        }
        _ => LoginError::Telegram(e.to_string()),
    }
}

/// Logs `client` in as `phone`; returns the user id. PHONE_MIGRATE is followed by grammers.
pub(crate) async fn login(
    client: &Client,
    phone: &str,
    api_hash: &str,
    prompt: &mut dyn Prompt,
) -> Result<i64, LoginError> {
    let token = client
        .request_login_code(phone, api_hash)
        .await
        .map_err(|e| match telegram(e) {
            LoginError::PhoneInvalid(_) => LoginError::PhoneInvalid(phone.to_string()),
            other => other,
        })?;
    tracing::info!(phone = %mask_phone(phone), "login code sent");
    let mut attempt = 1;
    let password_token = loop {
        let code = prompt.code(phone, attempt)?;
        match client.sign_in(&token, code.trim()).await {
            Ok(user) => return Ok(user.id().bare_id().unwrap_or_default()),
            Err(SignInError::PasswordRequired(t)) => break t,
            Err(SignInError::InvalidCode) if attempt < ATTEMPTS => {
                tracing::warn!(attempt, "wrong login code, asking again");
                attempt += 1;
            }
            Err(SignInError::InvalidCode) => return Err(LoginError::TooManyCodes),
            Err(SignInError::SignUpRequired) => return Err(LoginError::SignUpRequired),
            Err(SignInError::InvalidPassword(_)) => return Err(LoginError::WrongPassword(1)),
            Err(SignInError::Other(e)) => return Err(telegram(e)),
        }
    };
    password_step(client, password_token, prompt).await
}

/// The 2FA step of a login (after a right code, or a QR code scanned on an account with a
/// password): asks `prompt` for the password, [`ATTEMPTS`] times at most; returns the user id.
pub(crate) async fn password_step(
    client: &Client,
    password_token: PasswordToken,
    prompt: &mut dyn Prompt,
) -> Result<i64, LoginError> {
    let mut token = password_token;
    for attempt in 1..=ATTEMPTS {
        let hint = token.hint().map(str::to_string);
        let password = prompt.password(hint.as_deref(), attempt)?;
        match client.check_password(token, password.as_bytes()).await {
            Ok(user) => return Ok(user.id().bare_id().unwrap_or_default()),
            Err(SignInError::InvalidPassword(t)) => {
                tracing::warn!(attempt, "wrong 2FA password");
                token = t;
            }
            Err(SignInError::Other(e)) => return Err(telegram(e)),
            Err(other) => return Err(LoginError::Telegram(other.to_string())),
        }
    }
    Err(LoginError::WrongPassword(ATTEMPTS))
}

/// `+1555•••0100`: enough to recognise a number in a list, not enough to leak it.
pub(crate) fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() <= 6 {
        return "•".repeat(digits.len());
    }
    let head: String = digits[..4].iter().collect();
    let tail: String = digits[digits.len() - 2..].iter().collect();
    format!("+{head}{}{tail}", "•".repeat(digits.len() - 6))
}

/// Secrets given up front: codes in order, then passwords in order (automation and tests).
#[derive(Clone, Debug, Default)]
pub(crate) struct Scripted {
    /// Codes, first attempt first.
    pub codes: Vec<String>,
    /// Passwords, first attempt first.
    pub passwords: Vec<String>,
}

impl Prompt for Scripted {
    fn code(&mut self, _: &str, attempt: u32) -> Result<String, LoginError> {
        if self.codes.is_empty() {
            let what = if attempt == 1 {
                "no login code was given"
            } else {
                "no further login code was given"
            };
            return Err(LoginError::NoInput(format!(
                "{what} (the previous one was wrong or missing)"
            )));
        }
        Ok(self.codes.remove(0))
    }

    fn password(&mut self, _: Option<&str>, attempt: u32) -> Result<String, LoginError> {
        if self.passwords.is_empty() {
            return Err(if attempt == 1 {
                LoginError::NoInput(
                    "the account has a 2FA password: set TGSIFT_2FA_PASSWORD or run interactively"
                        .into(),
                )
            } else {
                LoginError::WrongPassword(attempt - 1)
            });
        }
        Ok(self.passwords.remove(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_masked() {
        assert_eq!(mask_phone("+1 555 000 0100"), "+1555•••••00");
        assert_eq!(mask_phone("123"), "•••");
        assert!(!mask_phone("+15550000100").contains("0000100"));
    }
}
