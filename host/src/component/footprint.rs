//! What one instance of a component takes from the pooling allocator (core instances, linear
//! memories, tables), read from the component's own structure, so that the pool fits the
//! component rather than constants: a Rust guest instantiates a handful of core modules, a
//! componentize-py one fourteen.
//!
//! Core instances made by instantiating a module are counted with that module's own memories
//! and tables; a nested component counts each time it is instantiated. A module or component
//! that is not defined inline (imported or aliased from outside) counts as the largest inline
//! one, an overestimate that only costs a little address space. A nested component instantiated
//! with arguments (a composite of a user and its plugins) counts one core instance more, for
//! the fused adapters wasmtime compiles between the two.

use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind,
    ComponentTypeRef, Encoding, Instance, Parser, Payload,
};

/// The pool resources one instance of a component needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Core module instances.
    pub core_instances: u32,
    /// Linear memories they define.
    pub memories: u32,
    /// Tables they define.
    pub tables: u32,
}

impl Footprint {
    fn add(&mut self, other: Footprint) {
        self.core_instances = self.core_instances.saturating_add(other.core_instances);
        self.memories = self.memories.saturating_add(other.memories);
        self.tables = self.tables.saturating_add(other.tables);
    }

    fn max(self, other: Footprint) -> Footprint {
        Footprint {
            core_instances: self.core_instances.max(other.core_instances),
            memories: self.memories.max(other.memories),
            tables: self.tables.max(other.tables),
        }
    }
}

/// A module being read: what one instance of it defines.
#[derive(Default)]
struct ModuleFrame {
    memories: u32,
    tables: u32,
}

/// A component being read: its module and component index spaces (`None` where the item is
/// not defined inline), and what its core and component instances add up to.
#[derive(Default)]
struct ComponentFrame {
    modules: Vec<Option<Footprint>>,
    components: Vec<Option<Footprint>>,
    total: Footprint,
}

impl ComponentFrame {
    fn largest(items: &[Option<Footprint>]) -> Footprint {
        items.iter().flatten().fold(
            Footprint {
                core_instances: 1,
                memories: 1,
                tables: 1,
            },
            |largest, item| largest.max(*item),
        )
    }

    fn module(&self, index: u32) -> Footprint {
        match self.modules.get(index as usize) {
            Some(Some(module)) => *module,
            _ => Self::largest(&self.modules),
        }
    }

    fn component(&self, index: u32) -> Footprint {
        match self.components.get(index as usize) {
            Some(Some(component)) => *component,
            _ => Self::largest(&self.components),
        }
    }
}

enum Frame {
    Module(ModuleFrame),
    Component(ComponentFrame),
}

/// The footprint of one instance of the component `bytes`.
pub fn of(bytes: &[u8]) -> Result<Footprint, wasmparser::BinaryReaderError> {
    let mut stack: Vec<Frame> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload?;
        match (&payload, stack.last_mut()) {
            (Payload::Version { encoding, .. }, _) => stack.push(match encoding {
                Encoding::Module => Frame::Module(ModuleFrame::default()),
                Encoding::Component => Frame::Component(ComponentFrame::default()),
            }),
            (Payload::MemorySection(reader), Some(Frame::Module(module))) => {
                module.memories = module.memories.saturating_add(reader.count());
            }
            (Payload::TableSection(reader), Some(Frame::Module(module))) => {
                module.tables = module.tables.saturating_add(reader.count());
            }
            (Payload::InstanceSection(reader), Some(Frame::Component(component))) => {
                for instance in reader.clone() {
                    let made = match instance? {
                        Instance::Instantiate { module_index, .. } => Footprint {
                            core_instances: 1,
                            ..component.module(module_index)
                        },
                        // A bundle of existing items: no module instance of its own (wasmtime
                        // counts only instantiated modules against the pool).
                        Instance::FromExports(_) => Footprint::default(),
                    };
                    component.total.add(made);
                }
            }
            (Payload::ComponentInstanceSection(reader), Some(Frame::Component(component))) => {
                for instance in reader.clone() {
                    if let ComponentInstance::Instantiate {
                        component_index,
                        args,
                    } = instance?
                    {
                        let mut made = component.component(component_index);
                        // Arguments wire this instance to others (a plugin's exports into a
                        // user's imports): wasmtime compiles the calls across into fused
                        // adapters, one more core instance for this instantiation.
                        if !args.is_empty() {
                            made.core_instances = made.core_instances.saturating_add(1);
                        }
                        component.total.add(made);
                    }
                }
            }
            (Payload::ComponentAliasSection(reader), Some(Frame::Component(component))) => {
                for alias in reader.clone() {
                    match alias? {
                        ComponentAlias::Outer {
                            kind: ComponentOuterAliasKind::CoreModule,
                            ..
                        }
                        | ComponentAlias::InstanceExport {
                            kind: ComponentExternalKind::Module,
                            ..
                        } => component.modules.push(None),
                        ComponentAlias::Outer {
                            kind: ComponentOuterAliasKind::Component,
                            ..
                        }
                        | ComponentAlias::InstanceExport {
                            kind: ComponentExternalKind::Component,
                            ..
                        } => component.components.push(None),
                        _ => {}
                    }
                }
            }
            (Payload::ComponentImportSection(reader), Some(Frame::Component(component))) => {
                for import in reader.clone() {
                    match import?.ty {
                        ComponentTypeRef::Module(_) => component.modules.push(None),
                        ComponentTypeRef::Component(_) => component.components.push(None),
                        _ => {}
                    }
                }
            }
            (Payload::End(_), _) => {
                let finished = stack.pop();
                let parent = match stack.last_mut() {
                    Some(Frame::Component(parent)) => parent,
                    // The outermost item ends: its footprint is the answer.
                    _ => {
                        return Ok(match finished {
                            Some(Frame::Component(component)) => component.total,
                            Some(Frame::Module(module)) => Footprint {
                                core_instances: 1,
                                memories: module.memories,
                                tables: module.tables,
                            },
                            None => Footprint::default(),
                        });
                    }
                };
                match finished {
                    Some(Frame::Module(module)) => parent.modules.push(Some(Footprint {
                        core_instances: 0,
                        memories: module.memories,
                        tables: module.tables,
                    })),
                    Some(Frame::Component(component)) => {
                        parent.components.push(Some(component.total));
                    }
                    None => {}
                }
            }
            _ => {}
        }
    }
    Ok(Footprint::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_module_is_one_instance_of_itself() {
        // (module (memory 1) (table 1 funcref)): the preamble, a table and a memory section.
        let module = [
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
            0x04, 0x04, 0x01, 0x70, 0x00, 0x01, // table section: 1 funcref table, min 1
            0x05, 0x03, 0x01, 0x00, 0x01, // memory section: 1 memory, min 1
        ];
        assert_eq!(
            of(&module).expect("parses"),
            Footprint {
                core_instances: 1,
                memories: 1,
                tables: 1
            }
        );
    }

    #[test]
    fn the_empty_component_needs_nothing() {
        assert_eq!(
            of(b"\0asm\x0d\0\x01\0").expect("parses"),
            Footprint::default()
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(of(b"\0asm\x0d\0\x01\0\x07\xff").is_err());
    }
}
