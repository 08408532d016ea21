//! `--show-task-ratio` and `--show-task-ratio-json`: how often each class and task runs, per
//! class and in total, nested task sets included, in Locust's shapes.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::run::scenario::{Picker, UserClassPlan};

/// One class, task or set with its share and, for classes and sets, what is inside.
#[derive(Clone, Debug, PartialEq)]
pub struct Ratio {
    /// Class, task or set name.
    pub name: String,
    /// Share, 0–1.
    pub ratio: f64,
    /// Children, for classes and task sets.
    pub tasks: Option<Vec<Ratio>>,
}

/// Task ratios per class (each class's tasks relative to that class) and in total (relative to
/// the whole run, class weights included).
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRatios {
    /// Per class.
    pub per_class: Vec<Ratio>,
    /// In total.
    pub total: Vec<Ratio>,
}

fn children(class: &UserClassPlan, picker: &Picker, parent_ratio: f64, total: bool) -> Vec<Ratio> {
    let weights = picker.weights();
    let sum: u64 = weights.iter().map(|(_, weight)| weight).sum();
    weights
        .into_iter()
        .filter_map(|(index, weight)| {
            let node = class.node(index)?;
            let share = weight as f64 / sum.max(1) as f64;
            let ratio = if total { share * parent_ratio } else { share };
            let tasks = node
                .picker
                .as_ref()
                .map(|inner| children(class, inner, if total { ratio } else { 1.0 }, total));
            Some(Ratio {
                name: node.name.clone(),
                ratio,
                tasks,
            })
        })
        .collect()
}

fn classes(plans: &[UserClassPlan], total: bool) -> Vec<Ratio> {
    let sum: u64 = plans.iter().map(|class| u64::from(class.weight)).sum();
    plans
        .iter()
        .map(|class| {
            let ratio = f64::from(class.weight) / sum.max(1) as f64;
            Ratio {
                name: class.name.clone(),
                ratio,
                tasks: Some(children(
                    class,
                    &class.root,
                    if total { ratio } else { 1.0 },
                    total,
                )),
            }
        })
        .collect()
}

fn to_value(ratios: &[Ratio]) -> Value {
    let mut map = Map::new();
    for ratio in ratios {
        let mut entry = Map::new();
        entry.insert("ratio".to_owned(), json!(ratio.ratio));
        if let Some(tasks) = &ratio.tasks {
            entry.insert("tasks".to_owned(), to_value(tasks));
        }
        map.insert(ratio.name.clone(), Value::Object(entry));
    }
    Value::Object(map)
}

fn write_rows(out: &mut String, ratios: &[Ratio], level: usize) {
    for ratio in ratios {
        let padding = "  ".repeat(level);
        let percent = format!("{padding}{:<6.1}", ratio.ratio * 100.0);
        let _ = writeln!(
            out,
            " {percent:<10} {:<50}",
            format!("{padding}{}", ratio.name)
        );
        if let Some(tasks) = &ratio.tasks {
            write_rows(out, tasks, level + 1);
        }
    }
}

impl TaskRatios {
    /// The ratios of `plans` (classes already selected and tag-filtered).
    pub fn of(plans: &[UserClassPlan]) -> Self {
        Self {
            per_class: classes(plans, false),
            total: classes(plans, true),
        }
    }

    /// `{"per_class": {...}, "total": {...}}`, as Locust prints it.
    pub fn to_json(&self) -> String {
        let mut root = Map::new();
        root.insert("per_class".to_owned(), to_value(&self.per_class));
        root.insert("total".to_owned(), to_value(&self.total));
        format!("{}\n", Value::Object(root))
    }

    /// The two indented tables Locust prints.
    pub fn to_table(&self) -> String {
        let mut out = String::from("\n Task ratio per User class\n");
        out.push_str(&"-".repeat(80));
        out.push('\n');
        write_rows(&mut out, &self.per_class, 0);
        out.push_str("\n Total task ratio\n");
        out.push_str(&"-".repeat(80));
        out.push('\n');
        write_rows(&mut out, &self.total, 0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::{
        ClassDescription, Description, HookSet, NodeKind, TaskNode, WaitPolicy,
    };
    use crate::run::scenario::Scenario;

    fn node(parent: Option<u32>, kind: NodeKind, name: &str, weight: u32) -> TaskNode {
        TaskNode {
            parent,
            kind,
            name: name.to_owned(),
            weight,
            tags: Vec::new(),
            wait: None,
        }
    }

    fn plans() -> Vec<UserClassPlan> {
        let class = |name: &str, weight: u32, tasks: Vec<TaskNode>| ClassDescription {
            name: name.to_owned(),
            weight,
            host: None,
            wait: WaitPolicy::Constant(0.0),
            is_abstract: false,
            tasks,
        };
        Scenario::from_description(Description {
            classes: vec![
                class(
                    "Web",
                    3,
                    vec![
                        node(None, NodeKind::Task, "index", 1),
                        node(None, NodeKind::TaskSet, "Forum", 3),
                        node(Some(1), NodeKind::Task, "read", 1),
                        node(Some(1), NodeKind::Task, "post", 1),
                    ],
                ),
                class("Mobile", 1, vec![node(None, NodeKind::Task, "app", 1)]),
            ],
            hooks: HookSet::empty(),
            options: Vec::new(),
        })
        .expect("valid")
        .plan(&[], None, None)
        .expect("runnable")
    }

    #[test]
    fn ratios_per_class_and_in_total() {
        let ratios = TaskRatios::of(&plans());
        let json: Value = serde_json::from_str(&ratios.to_json()).expect("json");
        assert_eq!(json["per_class"]["Web"]["ratio"], 0.75);
        assert_eq!(json["per_class"]["Web"]["tasks"]["index"]["ratio"], 0.25);
        assert_eq!(json["per_class"]["Web"]["tasks"]["Forum"]["ratio"], 0.75);
        assert_eq!(
            json["per_class"]["Web"]["tasks"]["Forum"]["tasks"]["read"]["ratio"],
            0.5
        );
        assert_eq!(json["total"]["Web"]["tasks"]["Forum"]["ratio"], 0.5625);
        assert_eq!(
            json["total"]["Web"]["tasks"]["Forum"]["tasks"]["read"]["ratio"],
            0.28125
        );
        assert_eq!(json["total"]["Mobile"]["tasks"]["app"]["ratio"], 0.25);
    }

    #[test]
    fn table_indents_nested_tasks() {
        let table = TaskRatios::of(&plans()).to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[1], " Task ratio per User class");
        assert_eq!(lines[3].trim_end(), " 75.0       Web");
        assert_eq!(lines[4].trim_end(), "   25.0       index");
        assert_eq!(lines[6].trim_end(), "     50.0       read");
        assert!(table.contains(" Total task ratio"));
    }
}
