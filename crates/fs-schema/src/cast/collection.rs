//! Casting of list columns to List, Set and Vector features.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, FixedSizeListArray, ListArray, UInt32Array};
use arrow_buffer::OffsetBuffer;
use arrow_schema::DataType;

use crate::schema::arrow_field;
use crate::types::{Collection, FeatureDefinition};

use super::scalar::{cast_scalar, to_utf8};
use super::{CastOptions, Fails, Role, RowFails, render};

/// The list with offsets starting at 0 and values holding only its own
/// elements (the values of a sliced list hold the other rows' too).
pub(super) fn compact(list: &ListArray) -> ListArray {
    let offsets = list.offsets();
    let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
    if first == 0 && last as usize == list.values().len() {
        return list.clone();
    }
    let DataType::List(field) = list.data_type() else {
        unreachable!("a ListArray has a List type")
    };
    let shifted: Vec<i32> = offsets.iter().map(|o| o - first).collect();
    ListArray::new(
        field.clone(),
        OffsetBuffer::new(shifted.into()),
        list.values().slice(first as usize, (last - first) as usize),
        list.nulls().cloned(),
    )
}

/// Casts a list-like column to a collection feature.
pub(super) fn cast_collection(
    src: &ArrayRef,
    def: &FeatureDefinition,
    collection: Collection,
    opts: &CastOptions,
) -> Option<(ArrayRef, RowFails)> {
    let item = match src.data_type() {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _) => f.clone(),
        _ => return None,
    };
    let as_list = arrow_cast::cast(src, &DataType::List(item)).ok()?;
    let list = &compact(as_list.as_list::<i32>());
    let offsets = list.offsets();
    let values = list.values();
    let (converted, elem_fails) = cast_scalar(values, def.feature_type, Role::Plain, opts)?;

    // Map element failures to rows.
    let row_of = |elem: usize| offsets.partition_point(|&o| (o as usize) <= elem) - 1;
    let mut fails = Fails::new();
    let mut rendered = RowFails::new();
    for (elem, value, reason) in render(values, elem_fails) {
        let row = row_of(elem);
        let pos = elem - offsets[row] as usize;
        rendered.push((row, value, format!("element {pos} {reason}")));
    }
    for row in 0..list.len() {
        if list.is_null(row) {
            continue;
        }
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        if let Some(pos) = (start..end).find(|&e| values.is_null(e)) {
            fails.push((
                row,
                format!("element {} is null; collections hold no nulls", pos - start),
            ));
            continue;
        }
        match collection {
            Collection::Set => {
                let texts = to_utf8(&converted.slice(start, end - start))?;
                let mut seen = HashSet::new();
                if let Some(dup) = texts
                    .as_string::<i32>()
                    .iter()
                    .flatten()
                    .find(|s| !seen.insert(*s))
                {
                    fails.push((row, format!("repeats {dup:?}; a Set holds distinct values")));
                }
            }
            Collection::Vector { dimension } if end - start != dimension as usize => {
                fails.push((
                    row,
                    format!(
                        "has {} elements; the Vector has dimension {dimension}",
                        end - start
                    ),
                ));
            }
            _ => {}
        }
    }
    rendered.extend(render(src, fails));

    let field = arrow_field(def, true);
    let array: ArrayRef = match (collection, field.data_type()) {
        (Collection::Vector { dimension }, DataType::FixedSizeList(item, _)) => {
            let dim = dimension as usize;
            let bad: HashSet<usize> = rendered.iter().map(|(r, _, _)| *r).collect();
            let indices: UInt32Array = (0..list.len())
                .flat_map(|row| {
                    let usable = !list.is_null(row) && !bad.contains(&row);
                    let start = offsets[row] as usize;
                    (0..dim).map(move |k| usable.then(|| (start + k) as u32))
                })
                .collect();
            let taken = arrow_select::take::take(&converted, &indices, None).ok()?;
            let nulls: Option<arrow_buffer::NullBuffer> = Some(
                (0..list.len())
                    .map(|row| !list.is_null(row) && !bad.contains(&row))
                    .collect(),
            );
            Arc::new(
                FixedSizeListArray::try_new(item.clone(), dimension as i32, taken, nulls).ok()?,
            )
        }
        (_, DataType::List(item)) => Arc::new(
            ListArray::try_new(
                item.clone(),
                OffsetBuffer::new(offsets.inner().clone()),
                converted,
                list.nulls().cloned(),
            )
            .ok()?,
        ),
        _ => return None,
    };
    Some((array, rendered))
}
