# check_layers.cmake — fails when an #include runs against the layer order of
# DESIGN.md (run: cmake -DROOT=<repo> -P tools/check_layers.cmake; the build
# runs it as the target check_layers, CTest as the test check_layers).
#
# Layers, lowest first; a file may include its own folder or a lower layer:
#   0 include/                        the public header
#   1 core/ (but exec.c, backends.c)  tensors, graphs, planner, errors, file readers, the op list
#   2 kernels/                        op constructors, references, the backend interface
#   3 cpu/ cuda/                      the backends
#   4 core/exec.c core/backends.c     the executor and the backends by name (above what they run)
#   5 tokenizer/ model/               (neither includes the other)
#   6 tasks/ tools/convert/ bench/
#   7 cli/ examples/ tools/fixtures/
#   8 tests/
# and above the backends, only core/ (exec.c, backends.c), bench/ and tests/
# may include cpu/ or cuda/: model/, tokenizer/, tasks/ and the converter reach
# a backend through core/ by name. tasks/ opens no model file: it calls none of
# the file readers (gguf_file_load, st_file_load, st_weights_load, cfg_load)
# and asks model/ instead.
# Includes of files outside the repository (system and third-party headers,
# llama.h) are not checked.
if(NOT ROOT)
  get_filename_component(ROOT "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
endif()

function(layer_of rel out)
  if(rel MATCHES "^core/(exec|backends)\\.c$")
    set(r 4)
  elseif(rel MATCHES "^include/")
    set(r 0)
  elseif(rel MATCHES "^core/")
    set(r 1)
  elseif(rel MATCHES "^kernels/")
    set(r 2)
  elseif(rel MATCHES "^(cpu|cuda)/")
    set(r 3)
  elseif(rel MATCHES "^(tokenizer|model)/")
    set(r 5)
  elseif(rel MATCHES "^(tasks|tools/convert|bench)/")
    set(r 6)
  elseif(rel MATCHES "^(cli|examples|tools/fixtures)/")
    set(r 7)
  elseif(rel MATCHES "^tests/")
    set(r 8)
  else()
    set(r -1)
  endif()
  set(${out} ${r} PARENT_SCOPE)
endfunction()

# The folder a file belongs to for the "own folder" rule (tools/convert, not tools).
function(folder_of rel out)
  if(rel MATCHES "^tools/[^/]+/")
    string(REGEX MATCH "^tools/[^/]+" f "${rel}")
  else()
    string(REGEX MATCH "^[^/]+" f "${rel}")
  endif()
  set(${out} ${f} PARENT_SCOPE)
endfunction()

file(GLOB_RECURSE files RELATIVE "${ROOT}"
     "${ROOT}/include/*.h" "${ROOT}/core/*" "${ROOT}/kernels/*" "${ROOT}/cpu/*" "${ROOT}/cuda/*"
     "${ROOT}/tokenizer/*" "${ROOT}/model/*" "${ROOT}/tasks/*" "${ROOT}/tools/convert/*" "${ROOT}/tools/fixtures/*"
     "${ROOT}/cli/*" "${ROOT}/bench/*" "${ROOT}/examples/*" "${ROOT}/tests/*")
set(bad 0)
set(checked 0)
foreach(rel ${files})
  if(NOT rel MATCHES "\\.(c|h|cu|cuh|inc|def)$" OR rel MATCHES "^tests/fixtures/")
    continue()
  endif()
  layer_of("${rel}" src_layer)
  folder_of("${rel}" src_folder)
  get_filename_component(dir "${ROOT}/${rel}" DIRECTORY)
  if(rel MATCHES "^tasks/")
    file(STRINGS "${ROOT}/${rel}" calls REGEX "(gguf_file_load|st_file_load|st_weights_load|cfg_load)(_buffer)?[ \t]*\\(")
    foreach(call ${calls})
      message(SEND_ERROR "layer order: ${rel} opens a model file itself (ask model/): ${call}")
      math(EXPR bad "${bad} + 1")
    endforeach()
  endif()
  file(STRINGS "${ROOT}/${rel}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line ${lines})
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" inc "${line}")
    # resolve: beside the file, else from the repository root, else include/
    set(target "")
    foreach(base "${dir}" "${ROOT}" "${ROOT}/include")
      if(target STREQUAL "" AND EXISTS "${base}/${inc}")
        get_filename_component(target "${base}/${inc}" ABSOLUTE)
      endif()
    endforeach()
    if(target STREQUAL "")
      continue() # not ours
    endif()
    file(RELATIVE_PATH trel "${ROOT}" "${target}")
    if(trel MATCHES "^\\.\\.")
      continue()
    endif()
    math(EXPR checked "${checked} + 1")
    layer_of("${trel}" dst_layer)
    folder_of("${trel}" dst_folder)
    if(dst_layer EQUAL 3 AND rel MATCHES "^(tokenizer|model|tasks|tools/convert|cli|examples)/")
      message(SEND_ERROR "layer order: ${rel} includes the backend ${trel} (backends are chosen by core/ by name)")
      math(EXPR bad "${bad} + 1")
      continue()
    endif()
    if(dst_folder STREQUAL src_folder OR (dst_layer GREATER_EQUAL 0 AND dst_layer LESS src_layer))
      continue()
    endif()
    message(SEND_ERROR "layer order: ${rel} (layer ${src_layer}) includes ${trel} (layer ${dst_layer})")
    math(EXPR bad "${bad} + 1")
  endforeach()
endforeach()
if(bad GREATER 0)
  message(FATAL_ERROR "check_layers: ${bad} include(s) against the layer order (see DESIGN.md)")
endif()
message(STATUS "check_layers: ${checked} includes follow the layer order")
