//! The runtime on its own and with a domain plugged in: without one, ISC workflows run and a step
//! that asks a person fails saying nobody can be asked; with one, the domain opens the person's
//! work, its answer resumes the execution, its actions run, and it hears of the execution's end
//! exactly once, in the transaction that ends it.

// A test that cannot go on should stop loudly, helpers included.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tessera_engine::actions::ActionError;
use tessera_engine::waiters::Outcome;
use tessera_engine::{Ask, Domain, Engine, EngineConfig};
use tessera_flow::interp::EffectId;
use tessera_model::{ExecutionStatus, ManualClock, Timestamp};
use tessera_store::testing::stores;
use tessera_store::{ExecutionRecord, ExecutionStore, ExecutionWaiter, Store, Tx, WorkflowRecord, WorkflowStore};

/// A domain that remembers what the runtime told it, and knows one person.
#[derive(Debug, Default)]
struct People {
    asked: Mutex<Vec<(String, EffectId, String)>>,
    ended: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Domain for People {
    async fn ask(&self, _tx: &mut Tx, ask: Ask<'_>) -> tessera_engine::Result<Option<String>> {
        self.asked.lock().unwrap().push((ask.execution.id.clone().into(), ask.effect.clone(), ask.action.to_owned()));
        Ok(None)
    }

    async fn execution_ended(
        &self,
        _tx: &mut Tx,
        execution: &ExecutionRecord,
        _now: Timestamp,
    ) -> tessera_engine::Result<()> {
        self.ended.lock().unwrap().push(execution.id.clone().into());
        Ok(())
    }

    async fn hand_on(&self, _: &mut Tx, _: &ExecutionWaiter, _: &Outcome, _: Timestamp) -> tessera_engine::Result<()> {
        Ok(())
    }

    async fn perform(
        &self,
        action: &str,
        input: &Map<String, Value>,
        _key: &str,
    ) -> Option<Result<Value, ActionError>> {
        (action == "sp:get-identity").then(|| Ok(json!({"id": input.get("identity"), "name": "Ada Lovelace"})))
    }
}

fn workflow() -> WorkflowRecord {
    let document = json!({"name": "Ask and look up", "definition": {"start": "Approve", "steps": {
        "Approve": {"type": "action", "actionId": "sp:generic-approval", "nextStep": "Look up",
                    "attributes": {"approvers": ["ada"], "subject": "May we?"}},
        "Look up": {"type": "action", "actionId": "sp:get-identity", "nextStep": "End",
                    "attributes": {"id": "sp:get-identity", "identity": "ada"}},
        "End": {"type": "success"}}}});
    tessera_flow::Workflow::from_document(document.clone()).unwrap();
    WorkflowRecord {
        id: "w-ask".into(),
        name: "Ask and look up".into(),
        latest_version: 1,
        enabled: true,
        trace: false,
        created_at: Timestamp::UNIX_EPOCH,
        modified_at: Timestamp::UNIX_EPOCH,
        creator: "test".into(),
        document,
    }
}

async fn start(engine: &Engine, store: &Store) -> String {
    let workflow = workflow();
    let mut tx = store.begin().await.unwrap();
    tx.insert_workflow(&workflow, "").await.unwrap();
    let id = engine.start(&mut tx, &workflow, json!({}), None).await.unwrap();
    tx.commit().await.unwrap();
    engine.run_due().await.unwrap();
    id.into()
}

async fn execution(store: &Store, id: &str) -> ExecutionRecord {
    let mut tx = store.begin().await.unwrap();
    tx.execution(id).await.unwrap().unwrap()
}

fn engine(store: &Store) -> Arc<Engine> {
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    Engine::new(store.clone(), clock, EngineConfig::default())
}

#[tokio::test]
async fn without_a_domain_a_step_that_asks_a_person_fails_saying_so() {
    for (kind, store) in stores().await {
        let engine = engine(&store);
        let id = start(&engine, &store).await;
        let ended = execution(&store, &id).await;
        assert_eq!(ended.status, ExecutionStatus::Failed, "{kind}");
        let error = ended.error.unwrap_or_default();
        assert!(error.contains("no people to ask"), "{kind}: {error}");
    }
}

#[tokio::test]
async fn a_domain_opens_the_work_its_answer_resumes_the_run_and_it_hears_of_the_end_once() {
    for (kind, store) in stores().await {
        let engine = engine(&store);
        let people = Arc::new(People::default());
        let domain: Arc<dyn Domain> = people.clone();
        engine.attach(Arc::downgrade(&domain)).unwrap();
        let second: Arc<dyn Domain> = Arc::new(People::default());
        assert!(engine.attach(Arc::downgrade(&second)).is_err(), "{kind}: one domain per engine");

        let id = start(&engine, &store).await;
        assert_eq!(execution(&store, &id).await.status, ExecutionStatus::Running, "{kind}: waits for the person");
        let (asked_for, effect, action) = people.asked.lock().unwrap().pop().unwrap();
        assert_eq!((asked_for.as_str(), action.as_str()), (id.as_str(), "sp:generic-approval"), "{kind}");

        let mut tx = store.begin().await.unwrap();
        engine.answer(&mut tx, &id, effect.clone(), json!({"approved": true}), engine.now()).await.unwrap();
        tx.commit().await.unwrap();
        engine.run_due().await.unwrap();
        let ended = execution(&store, &id).await;
        assert_eq!(ended.status, ExecutionStatus::Completed, "{kind}: {:?}", ended.error);
        let looked_up = &ended.state["main"]["doc"]["lookUp"];
        assert_eq!(looked_up, &json!({"id": "ada", "name": "Ada Lovelace"}), "{kind}: the domain's action ran");
        assert_eq!(people.ended.lock().unwrap().as_slice(), std::slice::from_ref(&id), "{kind}: told of the end once");

        // A repeated answer finds nothing outstanding and changes nothing.
        let mut tx = store.begin().await.unwrap();
        engine.answer(&mut tx, &id, effect, json!({"approved": false}), engine.now()).await.unwrap();
        tx.commit().await.unwrap();
        engine.run_due().await.unwrap();
        assert_eq!(execution(&store, &id).await.status, ExecutionStatus::Completed, "{kind}");
        assert_eq!(people.ended.lock().unwrap().len(), 1, "{kind}");
    }
}
