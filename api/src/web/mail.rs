//! Login links by email: the address check at registration, and the SMTP transport (lettre) that
//! sends the links when `ygor serve --smtp-url` is set. Without it, `/connexion` says that links
//! are not sent by email here and points to the carte citoyenne.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::error::ApiError;

/// Longest email address accepted (RFC 5321's path limit).
const EMAIL_MAX: usize = 254;

/// An email address as given at registration, trimmed and checked; `400 validation_failed`
/// otherwise.
pub fn checked_email(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if text.len() > EMAIL_MAX {
        return Err(ApiError::validation(format!("email: at most {EMAIL_MAX} characters")));
    }
    text.parse::<lettre::Address>()
        .map_err(|_| ApiError::validation("email: not an email address (expected name@domain)"))?;
    Ok(text.to_owned())
}

/// Sends the territory's emails over SMTP.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Why a mailer could not be built or a message not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid SMTP URL: {0}")]
    Url(String),
    #[error("invalid sender address `{0}`")]
    From(String),
    #[error("cannot send the email: {0}")]
    Send(String),
}

impl Mailer {
    /// A mailer for `smtp://host:port` (plain, for a relay on the same host or network) or
    /// `smtps://user:password@host` with TLS.
    pub fn new(smtp_url: &str, from: &str) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|error| MailError::Url(error.to_string()))?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        let from = from.parse::<Mailbox>().map_err(|_| MailError::From(from.to_owned()))?;
        Ok(Self { transport, from })
    }

    /// Sends a login link.
    pub async fn send_login_link(&self, to: &str, url: &str, valid_minutes: i64) -> Result<(), MailError> {
        let to = to.parse::<Mailbox>().map_err(|error| MailError::Send(error.to_string()))?;
        let body = format!(
            "Bonjour,\n\nVoici votre lien de connexion à Ygor, le portefeuille citoyen de votre territoire :\n\n{url}\n\n\
             Il est valable {valid_minutes} minutes et ne sert qu'une fois.\n\
             Si vous n'avez rien demandé, ignorez ce message : personne ne peut se connecter sans ce lien.\n"
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject("Votre lien de connexion à Ygor")
            .body(body)
            .map_err(|error| MailError::Send(error.to_string()))?;
        self.transport.send(message).await.map_err(|error| MailError::Send(error.to_string()))?;
        Ok(())
    }
}
