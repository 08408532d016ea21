//! Builders that describe user classes, tasks and task sets, and their type-erased form that
//! the runtime drives.

use std::rc::Rc;

use crate::bindings::locust::runtime::types::{
    self as wire, Description, HookSet, NodeKind, OptionSpec, RequestRecord, TaskNode,
};
use crate::exit::TaskResult;
use crate::wait::{Wait, constant};

type Action<U> = Box<dyn Fn(&mut U) -> TaskResult>;
type Hook = Box<dyn Fn() -> TaskResult>;
type RequestListener = Box<dyn Fn(&RequestRecord)>;
type ReportSource = Box<dyn Fn() -> Option<Vec<u8>>>;
type ReportSink = Box<dyn Fn(&str, &[u8])>;

/// All user classes of a component, and its test-wide hooks.
#[derive(Default)]
pub struct Scenario {
    pub(crate) classes: Vec<Rc<dyn ErasedClass>>,
    pub(crate) init: Option<Hook>,
    pub(crate) test_start: Option<Hook>,
    pub(crate) test_stop: Option<Hook>,
    pub(crate) quitting: Option<Hook>,
    pub(crate) on_request: Option<RequestListener>,
    pub(crate) report_to_master: Option<ReportSource>,
    pub(crate) worker_report: Option<ReportSink>,
    pub(crate) options: Vec<OptionSpec>,
}

impl Scenario {
    /// An empty scenario; add classes with [`Scenario::user`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a user class.
    pub fn user<U: Default + 'static>(mut self, class: UserClass<U>) -> Self {
        self.classes.push(Rc::new(class));
        self
    }

    /// Declare an extra command-line option (Locust's `init_command_line_parser`): `--name`,
    /// `LOCUST_NAME` or `name = ...` in a config file; read it with
    /// [`option`](crate::option).
    pub fn option(mut self, name: &str, default: Option<&str>, help: &str) -> Self {
        self.options.push(OptionSpec {
            name: name.to_owned(),
            default: default.map(str::to_owned),
            help: help.to_owned(),
        });
        self
    }

    /// Run `hook` once when the component is loaded (Locust's `init` event).
    pub fn on_init(mut self, hook: impl Fn() -> TaskResult + 'static) -> Self {
        self.init = Some(Box::new(hook));
        self
    }

    /// Run `hook` when a test starts (`test_start`), once per test, not per user.
    pub fn on_test_start(mut self, hook: impl Fn() -> TaskResult + 'static) -> Self {
        self.test_start = Some(Box::new(hook));
        self
    }

    /// Run `hook` once when the process is about to exit (`quitting`).
    pub fn on_quitting(mut self, hook: impl Fn() -> TaskResult + 'static) -> Self {
        self.quitting = Some(Box::new(hook));
        self
    }

    /// Run `hook` when a test stops (`test_stop`).
    pub fn on_test_stop(mut self, hook: impl Fn() -> TaskResult + 'static) -> Self {
        self.test_stop = Some(Box::new(hook));
        self
    }

    /// See every recorded request (`request_success`/`request_failure` listeners). Each one
    /// costs a call into the component's hook instance, so use it only when needed.
    pub fn on_request(mut self, listener: impl Fn(&RequestRecord) + 'static) -> Self {
        self.on_request = Some(Box::new(listener));
        self
    }

    /// On a worker of a distributed run, attach data to each statistics report (every 2
    /// seconds and once at the end): return bytes in any encoding, or `None` for nothing.
    /// Locust's `report_to_master` event. The master receives them in
    /// [`on_worker_report`](Self::on_worker_report).
    pub fn on_report_to_master(mut self, source: impl Fn() -> Option<Vec<u8>> + 'static) -> Self {
        self.report_to_master = Some(Box::new(source));
        self
    }

    /// On the master of a distributed run, receive what a worker attached to a report with
    /// [`on_report_to_master`](Self::on_report_to_master), with the worker's id. Locust's
    /// `worker_report` event.
    pub fn on_worker_report(mut self, sink: impl Fn(&str, &[u8]) + 'static) -> Self {
        self.worker_report = Some(Box::new(sink));
        self
    }

    pub(crate) fn description(&self) -> Description {
        let mut hooks = HookSet::empty();
        for (flag, declared) in [
            (HookSet::INIT, self.init.is_some()),
            (HookSet::TEST_START, self.test_start.is_some()),
            (HookSet::TEST_STOP, self.test_stop.is_some()),
            (HookSet::QUITTING, self.quitting.is_some()),
            (HookSet::REQUEST, self.on_request.is_some()),
            (HookSet::REPORT_TO_MASTER, self.report_to_master.is_some()),
            (HookSet::WORKER_REPORT, self.worker_report.is_some()),
        ] {
            if declared {
                hooks = hooks | flag;
            }
        }
        Description {
            classes: self.classes.iter().map(|class| class.describe()).collect(),
            hooks,
            options: self.options.clone(),
        }
    }
}

/// A simulated user class (Locust's `User`/`HttpUser` subclass). `U` is the state of one user:
/// a struct that usually holds an [`HttpClient`](crate::HttpClient) as `client`.
pub struct UserClass<U> {
    name: String,
    weight: u32,
    host: Option<String>,
    wait: Wait<U>,
    is_abstract: bool,
    on_start: Option<Action<U>>,
    on_stop: Option<Action<U>>,
    nodes: Vec<NodeDef<U>>,
}

struct NodeDef<U> {
    parent: Option<u32>,
    kind: NodeKind,
    name: String,
    weight: u32,
    tags: Vec<String>,
    wait: Option<Wait<U>>,
    run: Option<Action<U>>,
    on_stop: Option<Action<U>>,
}

impl<U> UserClass<U> {
    /// A class named `name` with weight 1, no host and no wait between tasks.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            weight: 1,
            host: None,
            wait: constant(0.0),
            is_abstract: false,
            on_start: None,
            on_stop: None,
            nodes: Vec::new(),
        }
    }

    /// Relative share of spawned users (Locust's `weight`).
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Default host, such as `http://127.0.0.1:8080`; `--host` overrides it.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Wait policy between tasks (Locust's `wait_time`).
    pub fn wait(mut self, wait: Wait<U>) -> Self {
        self.wait = wait;
        self
    }

    /// Mark the class abstract: described, never spawned.
    pub fn set_abstract(mut self) -> Self {
        self.is_abstract = true;
        self
    }

    /// Run before the user's first task.
    pub fn on_start(mut self, action: impl Fn(&mut U) -> TaskResult + 'static) -> Self {
        self.on_start = Some(Box::new(action));
        self
    }

    /// Run when the user stops.
    pub fn on_stop(mut self, action: impl Fn(&mut U) -> TaskResult + 'static) -> Self {
        self.on_stop = Some(Box::new(action));
        self
    }

    /// Add a task or a task set directly on the user.
    pub fn task(mut self, node: impl Into<Node<U>>) -> Self {
        self.push(None, node.into());
        self
    }

    fn push(&mut self, parent: Option<u32>, node: Node<U>) {
        let index = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        match node {
            Node::Task(task) => self.nodes.push(NodeDef {
                parent,
                kind: NodeKind::Task,
                name: task.name,
                weight: task.weight,
                tags: task.tags,
                wait: None,
                run: Some(task.run),
                on_stop: None,
            }),
            Node::Set(set) => {
                self.nodes.push(NodeDef {
                    parent,
                    kind: if set.sequential {
                        NodeKind::SequentialTaskSet
                    } else {
                        NodeKind::TaskSet
                    },
                    name: set.name,
                    weight: set.weight,
                    tags: set.tags,
                    wait: set.wait,
                    run: set.on_start,
                    on_stop: set.on_stop,
                });
                for child in set.children {
                    self.push(Some(index), child);
                }
            }
        }
    }

    fn node(&self, index: u32) -> Option<&NodeDef<U>> {
        self.nodes.get(index as usize)
    }
}

/// A task: a function of the user's state with a weight and tags (Locust's `@task`, `@tag`).
pub struct Task<U> {
    name: String,
    weight: u32,
    tags: Vec<String>,
    run: Action<U>,
}

impl<U> Task<U> {
    /// A task of weight 1; `name` is shown by `--show-task-ratio`.
    pub fn new(name: impl Into<String>, run: impl Fn(&mut U) -> TaskResult + 'static) -> Self {
        Self {
            name: name.into(),
            weight: 1,
            tags: Vec::new(),
            run: Box::new(run),
        }
    }

    /// Relative weight among its siblings (`@task(weight)`).
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Add a tag (`@tag`), for `--tags` and `--exclude-tags`.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }
}

/// A group of tasks that a user enters and stays in until a task interrupts it (Locust's
/// `TaskSet`, or `SequentialTaskSet` with [`TaskSet::sequential`]). Its state lives in the
/// user's struct.
pub struct TaskSet<U> {
    name: String,
    weight: u32,
    tags: Vec<String>,
    sequential: bool,
    wait: Option<Wait<U>>,
    on_start: Option<Action<U>>,
    on_stop: Option<Action<U>>,
    children: Vec<Node<U>>,
}

impl<U> TaskSet<U> {
    /// A task set whose tasks are picked at random by weight.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            weight: 1,
            tags: Vec::new(),
            sequential: false,
            wait: None,
            on_start: None,
            on_stop: None,
            children: Vec::new(),
        }
    }

    /// A task set whose tasks run in the order added, round and round.
    pub fn sequential(name: impl Into<String>) -> Self {
        Self {
            sequential: true,
            ..Self::new(name)
        }
    }

    /// Relative weight among its siblings.
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Add a tag; it applies to every task inside.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// A wait policy for tasks inside this set, instead of the user's.
    pub fn wait(mut self, wait: Wait<U>) -> Self {
        self.wait = Some(wait);
        self
    }

    /// Run each time the set is entered.
    pub fn on_start(mut self, action: impl Fn(&mut U) -> TaskResult + 'static) -> Self {
        self.on_start = Some(Box::new(action));
        self
    }

    /// Run each time the set is left.
    pub fn on_stop(mut self, action: impl Fn(&mut U) -> TaskResult + 'static) -> Self {
        self.on_stop = Some(Box::new(action));
        self
    }

    /// Add a task or a nested task set.
    pub fn task(mut self, node: impl Into<Node<U>>) -> Self {
        self.children.push(node.into());
        self
    }
}

/// A task or a task set, as taken by the `task` builder methods.
pub enum Node<U> {
    /// A task.
    Task(Task<U>),
    /// A task set.
    Set(TaskSet<U>),
}

impl<U> From<Task<U>> for Node<U> {
    fn from(task: Task<U>) -> Self {
        Node::Task(task)
    }
}

impl<U> From<TaskSet<U>> for Node<U> {
    fn from(set: TaskSet<U>) -> Self {
        Node::Set(set)
    }
}

/// A user class with its state type erased, so one scenario can hold several.
pub(crate) trait ErasedClass {
    fn describe(&self) -> wire::UserClass;
    fn instantiate(self: Rc<Self>) -> Box<dyn LiveUser>;
}

/// One running user: the runtime calls these for the host's exports.
pub(crate) trait LiveUser {
    fn on_start(&mut self) -> TaskResult;
    fn on_stop(&mut self) -> TaskResult;
    fn run_task(&mut self, node: u32) -> TaskResult;
    fn start_task_set(&mut self, node: u32) -> TaskResult;
    fn stop_task_set(&mut self, node: u32) -> TaskResult;
    fn wait_time(&mut self, node: Option<u32>) -> f64;
}

impl<U: Default + 'static> ErasedClass for UserClass<U> {
    fn describe(&self) -> wire::UserClass {
        wire::UserClass {
            name: self.name.clone(),
            weight: self.weight,
            host: self.host.clone(),
            wait: self.wait.policy(),
            is_abstract: self.is_abstract,
            tasks: self
                .nodes
                .iter()
                .map(|node| TaskNode {
                    parent: node.parent,
                    kind: node.kind,
                    name: node.name.clone(),
                    weight: node.weight,
                    tags: node.tags.clone(),
                    wait: node.wait.as_ref().map(Wait::policy),
                })
                .collect(),
        }
    }

    fn instantiate(self: Rc<Self>) -> Box<dyn LiveUser> {
        Box::new(User {
            class: self,
            state: U::default(),
        })
    }
}

struct User<U> {
    class: Rc<UserClass<U>>,
    state: U,
}

fn missing(what: &str, node: u32) -> TaskResult {
    crate::fail(format!(
        "the host asked for {what} {node}, which this class does not have"
    ))
}

impl<U> LiveUser for User<U> {
    fn on_start(&mut self) -> TaskResult {
        match &self.class.on_start {
            Some(action) => action(&mut self.state),
            None => Ok(()),
        }
    }

    fn on_stop(&mut self) -> TaskResult {
        match &self.class.on_stop {
            Some(action) => action(&mut self.state),
            None => Ok(()),
        }
    }

    fn run_task(&mut self, node: u32) -> TaskResult {
        match self.class.node(node) {
            Some(NodeDef {
                kind: NodeKind::Task,
                run: Some(run),
                ..
            }) => run(&mut self.state),
            _ => missing("task", node),
        }
    }

    fn start_task_set(&mut self, node: u32) -> TaskResult {
        match self.class.node(node) {
            Some(def) if def.kind != NodeKind::Task => match &def.run {
                Some(on_start) => on_start(&mut self.state),
                None => Ok(()),
            },
            _ => missing("task set", node),
        }
    }

    fn stop_task_set(&mut self, node: u32) -> TaskResult {
        match self.class.node(node) {
            Some(def) if def.kind != NodeKind::Task => match &def.on_stop {
                Some(on_stop) => on_stop(&mut self.state),
                None => Ok(()),
            },
            _ => missing("task set", node),
        }
    }

    fn wait_time(&mut self, node: Option<u32>) -> f64 {
        let wait = node
            .and_then(|index| self.class.node(index))
            .and_then(|def| def.wait.as_ref())
            .unwrap_or(&self.class.wait);
        wait.custom_seconds(&mut self.state)
    }
}
