//! The guest's description turned into plain data the host schedules from: user classes,
//! their task trees with pickers, tag filtering and class selection. Everything here is pure
//! and tested without a component.

use rand::Rng;

use crate::component::{ClassDescription, Description, HookSet, NodeKind, WaitPolicy};
use crate::run::wait::Wait;

/// A description the host cannot use, or a selection that leaves nothing to run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScenarioError {
    /// The component's description is inconsistent.
    #[error("user class {class}: {problem}")]
    InvalidClass {
        /// Class name.
        class: String,
        /// What is wrong.
        problem: String,
    },
    /// A class named on the command line does not exist.
    #[error("unknown user class {name}; the component defines: {available}")]
    UnknownClass {
        /// The name given.
        name: String,
        /// The concrete classes, comma-separated.
        available: String,
    },
    /// Nothing is left to spawn.
    #[error("{0}")]
    NothingToRun(String),
    /// The description is larger than any test needs (a hostile or broken component).
    #[error("the component describes {0}; that is more than any test needs")]
    TooLarge(String),
}

/// Most user classes a component may describe.
pub const MAX_CLASSES: usize = 1_000;
/// Most task nodes (tasks and task sets) one class may have.
pub const MAX_NODES: usize = 10_000;
/// Most options a component may declare.
pub const MAX_OPTIONS: usize = 1_000;
/// Longest class, task, tag or option name.
pub const MAX_NAME: usize = 256;

/// Refuse descriptions too large to be a real test before anything is built from them.
fn check_size(description: &Description) -> Result<(), ScenarioError> {
    let too_large = |what: String| Err(ScenarioError::TooLarge(what));
    if description.classes.len() > MAX_CLASSES {
        return too_large(format!(
            "{} user classes (at most {MAX_CLASSES})",
            description.classes.len()
        ));
    }
    if description.options.len() > MAX_OPTIONS {
        return too_large(format!(
            "{} options (at most {MAX_OPTIONS})",
            description.options.len()
        ));
    }
    let long = |name: &str| name.len() > MAX_NAME;
    for class in &description.classes {
        if long(&class.name) {
            return too_large(format!(
                "a class name of {} bytes (at most {MAX_NAME})",
                class.name.len()
            ));
        }
        if class.tasks.len() > MAX_NODES {
            return too_large(format!(
                "{} tasks in class {} (at most {MAX_NODES})",
                class.tasks.len(),
                class.name
            ));
        }
        for node in &class.tasks {
            if long(&node.name) || node.tags.iter().any(|tag| long(tag)) || node.tags.len() > 64 {
                return too_large(format!(
                    "a task name or tags over {MAX_NAME} bytes (or over 64 tags) in class {}",
                    class.name
                ));
            }
        }
    }
    for option in &description.options {
        if long(&option.name)
            || option.help.len() > 4096
            || option.default.as_ref().is_some_and(|d| d.len() > 4096)
        {
            return too_large(format!(
                "an option name, help or default that long ({})",
                option.name.chars().take(40).collect::<String>()
            ));
        }
    }
    Ok(())
}

/// How a task set picks its next task.
#[derive(Clone, Debug, PartialEq)]
pub enum Picker {
    /// Weighted random choice: cumulative weights and their nodes.
    Random {
        /// Running totals of the weights.
        cumulative: Vec<u64>,
        /// The node of each total.
        nodes: Vec<u32>,
    },
    /// Round and round in this order (a weight of n appears n times in a row).
    Sequence(Vec<u32>),
}

impl Picker {
    fn build(sequential: bool, children: &[(u32, u32)]) -> Self {
        if sequential {
            let order = children
                .iter()
                .flat_map(|&(node, weight)| std::iter::repeat_n(node, weight as usize))
                .collect();
            Picker::Sequence(order)
        } else {
            let mut total = 0u64;
            let mut cumulative = Vec::new();
            let mut nodes = Vec::new();
            for &(node, weight) in children.iter().filter(|(_, weight)| *weight > 0) {
                total += u64::from(weight);
                cumulative.push(total);
                nodes.push(node);
            }
            Picker::Random { cumulative, nodes }
        }
    }

    /// Each node with its weight, in declaration order.
    pub fn weights(&self) -> Vec<(u32, u64)> {
        match self {
            Picker::Random { cumulative, nodes } => {
                let mut previous = 0;
                nodes
                    .iter()
                    .zip(cumulative)
                    .map(|(&node, &sum)| {
                        let weight = sum - previous;
                        previous = sum;
                        (node, weight)
                    })
                    .collect()
            }
            Picker::Sequence(order) => {
                let mut weights: Vec<(u32, u64)> = Vec::new();
                for &node in order {
                    match weights.iter_mut().find(|(seen, _)| *seen == node) {
                        Some((_, weight)) => *weight += 1,
                        None => weights.push((node, 1)),
                    }
                }
                weights
            }
        }
    }

    /// Whether there is nothing to pick.
    pub fn is_empty(&self) -> bool {
        match self {
            Picker::Random { nodes, .. } => nodes.is_empty(),
            Picker::Sequence(order) => order.is_empty(),
        }
    }

    /// The next node; `position` is the sequence cursor of this set's current run.
    pub fn pick(&self, rng: &mut impl Rng, position: &mut usize) -> Option<u32> {
        match self {
            Picker::Random { cumulative, nodes } => {
                let total = *cumulative.last()?;
                let ticket = rng.random_range(0..total);
                let index = cumulative.partition_point(|&sum| sum <= ticket);
                nodes.get(index).copied()
            }
            Picker::Sequence(order) => {
                let node = *order.get(*position % order.len().max(1))?;
                *position = (*position + 1) % order.len();
                Some(node)
            }
        }
    }
}

/// A task or task set in a class's tree.
#[derive(Clone, Debug, PartialEq)]
pub struct TreeNode {
    /// Display name.
    pub name: String,
    /// Enclosing set.
    pub parent: Option<u32>,
    /// Weight among siblings.
    pub weight: u32,
    /// The node's own tags plus those of every enclosing set.
    pub tags: Vec<String>,
    /// A set's own wait policy.
    pub wait: Option<Wait>,
    /// For a set, how it picks among its (remaining) children; `None` for a task.
    pub picker: Option<Picker>,
    sequential: bool,
}

impl TreeNode {
    /// Whether this node is a task set.
    pub fn is_set(&self) -> bool {
        self.picker.is_some()
    }
}

/// One user class, ready to schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct UserClassPlan {
    /// Index in the component's description (what `user.create` takes).
    pub index: u32,
    /// Class name.
    pub name: String,
    /// Spawn weight.
    pub weight: u32,
    /// The class's default host.
    pub host: Option<String>,
    /// Wait between tasks at the user level.
    pub wait: Wait,
    /// Abstract classes are never spawned.
    pub is_abstract: bool,
    /// Task tree nodes, indexed as in the description.
    pub nodes: Vec<TreeNode>,
    /// How the user picks among its own tasks.
    pub root: Picker,
}

impl UserClassPlan {
    /// The node at `index`.
    pub fn node(&self, index: u32) -> Option<&TreeNode> {
        self.nodes.get(index as usize)
    }

    fn from_description(index: u32, class: ClassDescription) -> Result<Self, ScenarioError> {
        let invalid = |problem: String| ScenarioError::InvalidClass {
            class: class.name.clone(),
            problem,
        };
        let wait = to_wait(class.wait).validate().map_err(invalid)?;
        let mut nodes: Vec<TreeNode> = Vec::with_capacity(class.tasks.len());
        for (position, node) in class.tasks.iter().enumerate() {
            let mut tags = node.tags.clone();
            if let Some(parent) = node.parent {
                let Some(parent_node) = nodes.get(parent as usize).filter(|p| p.is_set()) else {
                    return Err(invalid(format!(
                        "task node {position} ({}) names parent {parent}, which is not an earlier task set",
                        node.name
                    )));
                };
                tags.extend(parent_node.tags.iter().cloned());
            }
            tags.sort();
            tags.dedup();
            let wait =
                match node.wait {
                    Some(policy) => Some(to_wait(policy).validate().map_err(|problem| {
                        invalid(format!("task set {}: {problem}", node.name))
                    })?),
                    None => None,
                };
            let sequential = node.kind == NodeKind::SequentialTaskSet;
            nodes.push(TreeNode {
                name: node.name.clone(),
                parent: node.parent,
                weight: node.weight,
                tags,
                wait,
                picker: (node.kind != NodeKind::Task).then(|| Picker::Sequence(Vec::new())),
                sequential,
            });
        }
        let mut plan = Self {
            index,
            name: class.name,
            weight: class.weight,
            host: class.host,
            wait,
            is_abstract: class.is_abstract,
            nodes,
            root: Picker::Sequence(Vec::new()),
        };
        plan.rebuild_pickers(&vec![true; plan.nodes.len()]);
        Ok(plan)
    }

    /// Rebuild every picker from the nodes still `kept`.
    fn rebuild_pickers(&mut self, kept: &[bool]) {
        let children_of = |parent: Option<u32>| -> Vec<(u32, u32)> {
            self.nodes
                .iter()
                .enumerate()
                .filter(|(index, node)| node.parent == parent && kept[*index])
                .map(|(index, node)| (index as u32, node.weight))
                .collect()
        };
        let pickers: Vec<Option<Picker>> = (0..self.nodes.len())
            .map(|index| {
                let node = &self.nodes[index];
                node.is_set()
                    .then(|| Picker::build(node.sequential, &children_of(Some(index as u32))))
            })
            .collect();
        self.root = Picker::build(false, &children_of(None));
        for (node, picker) in self.nodes.iter_mut().zip(pickers) {
            node.picker = picker;
        }
    }

    /// Keep only tasks that pass the tag filters (Locust's rules: a task's tags include those
    /// of its enclosing sets; exclusion wins; a set stays if any task in it stays).
    pub fn filter_tags(&mut self, include: Option<&[String]>, exclude: Option<&[String]>) {
        let passes = |tags: &[String]| {
            include.is_none_or(|wanted| tags.iter().any(|tag| wanted.contains(tag)))
                && exclude.is_none_or(|unwanted| !tags.iter().any(|tag| unwanted.contains(tag)))
        };
        let mut kept: Vec<bool> = self
            .nodes
            .iter()
            .map(|node| node.is_set() || passes(&node.tags))
            .collect();
        // A set survives if a child survives; children come after parents, so walk backwards.
        let mut has_child = vec![false; self.nodes.len()];
        for index in (0..self.nodes.len()).rev() {
            if self.nodes[index].is_set() {
                kept[index] = has_child[index];
            }
            if let (true, Some(parent)) = (
                kept[index] && self.nodes[index].weight > 0,
                self.nodes[index].parent,
            ) {
                has_child[parent as usize] = true;
            }
        }
        self.rebuild_pickers(&kept);
    }
}

fn to_wait(policy: WaitPolicy) -> Wait {
    match policy {
        WaitPolicy::Constant(s) => Wait::Constant(s),
        WaitPolicy::Between(range) => Wait::Between(range.min, range.max),
        WaitPolicy::ConstantPacing(s) => Wait::ConstantPacing(s),
        WaitPolicy::Custom => Wait::Custom,
    }
}

/// Everything a component defines, as the host schedules it.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// All classes, abstract ones included, in description order.
    pub classes: Vec<UserClassPlan>,
    /// The hooks the component declared.
    pub hooks: HookSet,
}

impl Scenario {
    /// Check and convert a component's description.
    pub fn from_description(description: Description) -> Result<Self, ScenarioError> {
        check_size(&description)?;
        let classes = description
            .classes
            .into_iter()
            .enumerate()
            .map(|(index, class)| UserClassPlan::from_description(index as u32, class))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            classes,
            hooks: description.hooks,
        })
    }

    /// Concrete (non-abstract) class names, for listings and messages.
    pub fn concrete_names(&self) -> Vec<&str> {
        self.classes
            .iter()
            .filter(|class| !class.is_abstract)
            .map(|class| class.name.as_str())
            .collect()
    }

    /// Prepare the classes to spawn: only those named (all concrete ones if none are), with
    /// tag filters applied. Classes left without tasks are dropped with a warning.
    pub fn plan(
        &self,
        names: &[String],
        include_tags: Option<&[String]>,
        exclude_tags: Option<&[String]>,
    ) -> Result<Vec<UserClassPlan>, ScenarioError> {
        let available = || self.concrete_names().join(", ");
        let mut chosen: Vec<UserClassPlan> = if names.is_empty() {
            self.classes
                .iter()
                .filter(|class| !class.is_abstract)
                .cloned()
                .collect()
        } else {
            names
                .iter()
                .map(|name| {
                    self.classes
                        .iter()
                        .find(|class| &class.name == name && !class.is_abstract)
                        .cloned()
                        .ok_or_else(|| ScenarioError::UnknownClass {
                            name: name.clone(),
                            available: available(),
                        })
                })
                .collect::<Result<_, _>>()?
        };
        if chosen.is_empty() {
            return Err(ScenarioError::NothingToRun(
                "the component defines no concrete user class".to_owned(),
            ));
        }
        for class in &mut chosen {
            class.filter_tags(include_tags, exclude_tags);
        }
        let (runnable, empty): (Vec<_>, Vec<_>) = chosen
            .into_iter()
            .partition(|class| !class.root.is_empty() && class.weight > 0);
        for class in &empty {
            tracing::warn!(
                target: "locust.main",
                "user class {} has no tasks to run (after tag filtering, or weight 0); it will not be spawned",
                class.name
            );
        }
        if runnable.is_empty() {
            return Err(ScenarioError::NothingToRun(
                "no user class has any task left to run; check --tags/--exclude-tags and the task weights"
                    .to_owned(),
            ));
        }
        Ok(runnable)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;
    use crate::component::TaskNode;

    fn node(
        parent: Option<u32>,
        kind: NodeKind,
        name: &str,
        weight: u32,
        tags: &[&str],
    ) -> TaskNode {
        TaskNode {
            parent,
            kind,
            name: name.to_owned(),
            weight,
            tags: tags.iter().map(|tag| tag.to_string()).collect(),
            wait: None,
        }
    }

    fn class(tasks: Vec<TaskNode>) -> UserClassPlan {
        UserClassPlan::from_description(
            0,
            ClassDescription {
                name: "U".into(),
                weight: 1,
                host: None,
                wait: WaitPolicy::Constant(0.0),
                is_abstract: false,
                tasks,
            },
        )
        .expect("valid class")
    }

    fn names(plan: &UserClassPlan, picker: &Picker) -> Vec<String> {
        let mut out: Vec<String> = match picker {
            Picker::Random { nodes, .. } => nodes.clone(),
            Picker::Sequence(order) => order.clone(),
        }
        .iter()
        .map(|&index| plan.nodes[index as usize].name.clone())
        .collect();
        out.sort();
        out
    }

    /// Root: a (tag x), b; set S (tag s): c, d (tag y); set T: e (tag x), f.
    fn tagged() -> UserClassPlan {
        class(vec![
            node(None, NodeKind::Task, "a", 1, &["x"]),
            node(None, NodeKind::Task, "b", 1, &[]),
            node(None, NodeKind::TaskSet, "S", 1, &["s"]),
            node(Some(2), NodeKind::Task, "c", 1, &[]),
            node(Some(2), NodeKind::Task, "d", 1, &["y"]),
            node(None, NodeKind::TaskSet, "T", 1, &[]),
            node(Some(5), NodeKind::Task, "e", 1, &["x"]),
            node(Some(5), NodeKind::Task, "f", 1, &[]),
        ])
    }

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|tag| tag.to_string()).collect()
    }

    #[test]
    fn include_tags_keep_tagged_tasks_and_their_sets() {
        let mut plan = tagged();
        plan.filter_tags(Some(&tags(&["x"])), None);
        assert_eq!(names(&plan, &plan.root), ["T", "a"]);
        let t = plan.nodes[5].picker.clone().expect("set");
        assert_eq!(names(&plan, &t), ["e"]);
    }

    #[test]
    fn tags_on_a_set_apply_to_its_tasks() {
        let mut plan = tagged();
        plan.filter_tags(Some(&tags(&["s"])), None);
        assert_eq!(names(&plan, &plan.root), ["S"]);
        let s = plan.nodes[2].picker.clone().expect("set");
        assert_eq!(names(&plan, &s), ["c", "d"]);
    }

    #[test]
    fn exclusion_wins_and_empties_sets() {
        let mut plan = tagged();
        plan.filter_tags(Some(&tags(&["s", "y"])), Some(&tags(&["y"])));
        let s = plan.nodes[2].picker.clone().expect("set");
        assert_eq!(names(&plan, &s), ["c"]);
        let mut plan = tagged();
        plan.filter_tags(None, Some(&tags(&["s", "x"])));
        assert_eq!(names(&plan, &plan.root), ["T", "b"]);
        let t = plan.nodes[5].picker.clone().expect("set");
        assert_eq!(names(&plan, &t), ["f"]);
    }

    #[test]
    fn weighted_choice_follows_weights() {
        let plan = class(vec![
            node(None, NodeKind::Task, "rare", 1, &[]),
            node(None, NodeKind::Task, "common", 3, &[]),
            node(None, NodeKind::Task, "never", 0, &[]),
        ]);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            let picked = plan.root.pick(&mut rng, &mut 0).expect("a task");
            counts[picked as usize] += 1;
        }
        assert_eq!(counts[2], 0);
        let ratio = f64::from(counts[1]) / f64::from(counts[0]);
        assert!((2.8..3.2).contains(&ratio), "ratio {ratio}");
    }

    #[test]
    fn sequential_sets_repeat_by_weight_in_order() {
        let plan = class(vec![
            node(None, NodeKind::SequentialTaskSet, "Seq", 1, &[]),
            node(Some(0), NodeKind::Task, "one", 1, &[]),
            node(Some(0), NodeKind::Task, "two", 2, &[]),
            node(Some(0), NodeKind::Task, "three", 1, &[]),
        ]);
        let picker = plan.nodes[0].picker.clone().expect("set");
        let mut rng = SmallRng::seed_from_u64(1);
        let mut position = 0;
        let order: Vec<u32> = (0..8)
            .map(|_| picker.pick(&mut rng, &mut position).expect("a task"))
            .collect();
        assert_eq!(order, [1, 2, 2, 3, 1, 2, 2, 3]);
    }

    #[test]
    fn absurd_descriptions_are_refused_before_anything_is_built() {
        let one = |name: String, tasks: Vec<TaskNode>| ClassDescription {
            name,
            weight: 1,
            host: None,
            wait: WaitPolicy::Constant(0.0),
            is_abstract: false,
            tasks,
        };
        let describe = |classes| Description {
            classes,
            hooks: HookSet::empty(),
            options: Vec::new(),
        };
        let many = (0..=MAX_CLASSES)
            .map(|i| one(format!("U{i}"), Vec::new()))
            .collect();
        let error = Scenario::from_description(describe(many)).expect_err("too many");
        assert!(error.to_string().contains("1001 user classes"), "{error}");
        let tasks = (0..=MAX_NODES)
            .map(|_| node(None, NodeKind::Task, "t", 1, &[]))
            .collect();
        let error = Scenario::from_description(describe(vec![one("U".into(), tasks)]))
            .expect_err("too many tasks");
        assert!(error.to_string().contains("10001 tasks"), "{error}");
        let error = Scenario::from_description(describe(vec![one("U".repeat(300), Vec::new())]))
            .expect_err("too long");
        assert!(error.to_string().contains("300 bytes"), "{error}");
    }

    #[test]
    fn parents_must_be_earlier_sets() {
        let error = UserClassPlan::from_description(
            0,
            ClassDescription {
                name: "Bad".into(),
                weight: 1,
                host: None,
                wait: WaitPolicy::Constant(0.0),
                is_abstract: false,
                tasks: vec![node(Some(3), NodeKind::Task, "orphan", 1, &[])],
            },
        )
        .expect_err("invalid");
        assert!(error.to_string().contains("not an earlier task set"));
    }

    #[test]
    fn unknown_class_names_list_the_real_ones() {
        let scenario = Scenario {
            classes: vec![tagged()],
            hooks: HookSet::empty(),
        };
        let error = scenario
            .plan(&["Nope".into()], None, None)
            .expect_err("unknown");
        assert_eq!(
            error,
            ScenarioError::UnknownClass {
                name: "Nope".into(),
                available: "U".into()
            }
        );
        assert!(scenario.plan(&[], None, Some(&tags(&["x", "s"]))).is_ok());
        assert!(scenario.plan(&[], Some(&tags(&["nothing"])), None).is_err());
    }
}
