//! A validated workflow compiled for the interpreter: steps by index, paths compiled, ids resolved.

use crate::catalog::Action;
use crate::compare::Comparator;
use crate::expr::{Expr, Inputs};
use crate::name::StepName;
use crate::transform::Transform;

/// A compiled workflow definition.
#[derive(Debug, Clone)]
pub struct Program {
    /// The top-level steps.
    pub body: Body,
    /// The trigger, when the definition declares one.
    pub trigger: Option<Trigger>,
    /// Guard rails the workflow sets for itself (Tessera's `limits`); they only ever lower the
    /// server's.
    pub limits: crate::interp::LimitsOverride,
}

/// A set of steps with a start: the definition itself, or a loop's body.
#[derive(Debug, Clone)]
pub struct Body {
    pub start: usize,
    pub steps: Vec<Step>,
}

/// One step.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: StepName,
    /// The lowerCamelCase key of its output in the data document.
    pub key: String,
    /// Where the step is in the source document (a JSON pointer).
    pub pointer: String,
    pub kind: StepKind,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// An action from the catalogue, performed as an effect (or a wait, or a person's task).
    Action { action: &'static Action, inputs: Inputs, next: usize, catch: Option<usize>, retry: Option<RetryPolicy> },
    /// `sp:loop:iterator`: runs `body` once per item of `input`, then continues at `next`.
    Loop {
        input: Expr,
        context: Option<Expr>,
        parallelism: Option<usize>,
        body: Box<Body>,
        next: usize,
        catch: Option<usize>,
    },
    /// The first matching choice wins, else `default`.
    Choice { choices: Vec<Choice>, default: Option<usize> },
    /// Define Variable (or Update Variable when `update`).
    Variables { update: bool, variables: Vec<Variable>, next: usize },
    /// Ends the run (or the loop iteration) successfully.
    Success,
    /// Ends the run (or the loop iteration) as failed, with ISC's `failureName`.
    Failure { name: Option<String> },
}

/// How an action is retried when it fails with an error a retry may cure (a Tessera addition:
/// `"retry": {"maxAttempts": 5, "interval": "2s", "backoffRate": 2, "maxInterval": "5m"}` on the step).
pub use tessera_model::RetryPolicy;

/// One entry of a `choiceList`.
#[derive(Debug, Clone)]
pub struct Choice {
    pub comparator: Comparator,
    pub a: Expr,
    pub b: Option<Expr>,
    /// StringMatches' pattern, compiled at load when it is a literal.
    pub pattern: Option<regex::Regex>,
    pub next: usize,
}

/// One variable of a Define / Update Variable step.
#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub key: String,
    pub value: Expr,
    pub transforms: Vec<Transform>,
}

/// A workflow's trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// `EVENT`, `SCHEDULED`, `EXTERNAL`…, as written.
    pub kind: String,
    /// The event trigger id (`idn:identity-created`) for event triggers.
    pub id: Option<String>,
    /// The `filter.$` expression of an event trigger.
    pub filter: Option<String>,
}

impl Body {
    /// The index of the step called `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.name.as_str() == name)
    }

    /// The steps this step can go to next.
    pub fn successors(&self, index: usize) -> Vec<usize> {
        match &self.steps[index].kind {
            StepKind::Action { next, catch, .. } | StepKind::Loop { next, catch, .. } => {
                std::iter::once(*next).chain(*catch).collect()
            }
            StepKind::Choice { choices, default } => choices.iter().map(|c| c.next).chain(*default).collect(),
            StepKind::Variables { next, .. } => vec![*next],
            StepKind::Success | StepKind::Failure { .. } => Vec::new(),
        }
    }
}
