//! The error type of this crate.

/// Why a policy operation (not a decision: decisions are [`crate::Verdict`]s) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// No approval has this id (or it belongs to nobody this caller may see).
    #[error("approval not found")]
    ApprovalNotFound,
    /// The approval was already decided, used, or has expired; decisions are final.
    #[error("approval is {0} and can no longer be decided")]
    ApprovalClosed(&'static str),
    /// An approval id was not 32 lowercase hex characters.
    #[error("invalid approval id")]
    InvalidApprovalId,
    /// A concurrent call of the same session used up the last unit of this budget first.
    #[error("budget exhausted: {0}")]
    BudgetRace(&'static str),
    /// The persistent store failed.
    #[error(transparent)]
    Store(#[from] rampart_store::StoreError),
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random,
}
