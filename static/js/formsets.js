/* "Add a row" for Django formsets: [data-formset] holds the management form, [data-formset-rows], a
 * <template data-formset-empty> with the empty form (__prefix__ for the index, __number__ for the row's
 * number) and a [data-formset-add] button. Without JavaScript the rows the server rendered still work. */
(function () {
  "use strict";
  document.querySelectorAll("[data-formset]").forEach(function (set) {
    var prefix = set.dataset.prefix;
    var total = set.querySelector("[name=" + prefix + "-TOTAL_FORMS]");
    var max = parseInt(set.querySelector("[name=" + prefix + "-MAX_NUM_FORMS]").value, 10);
    var rows = set.querySelector("[data-formset-rows]");
    var template = set.querySelector("template[data-formset-empty]");
    var button = set.querySelector("[data-formset-add]");
    function update() { button.hidden = parseInt(total.value, 10) >= max; }
    button.addEventListener("click", function () {
      var index = parseInt(total.value, 10);
      if (index >= max) { return; }
      var html = template.innerHTML.replace(/__prefix__/g, String(index)).replace(/__number__/g, String(index + 1));
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var row = holder.firstElementChild;
      rows.appendChild(row);
      total.value = String(index + 1);
      var first = row.querySelector("input, select, textarea");
      if (first) { first.focus(); }
      update();
    });
    update();
  });
})();
