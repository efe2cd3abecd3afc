// The grid's size slider: the thumbnail width, remembered by the browser (localStorage).
(function () {
  var slider = document.getElementById("size-slider");
  if (!slider) return;
  var key = "astrocat.thumbnailSize";
  var saved = null;
  try { saved = window.localStorage.getItem(key); } catch (e) { /* storage disabled */ }
  if (saved && !isNaN(+saved)) slider.value = saved;
  function apply() {
    document.documentElement.style.setProperty("--thumb", slider.value + "px");
  }
  slider.addEventListener("input", function () {
    apply();
    try { window.localStorage.setItem(key, slider.value); } catch (e) { /* storage disabled */ }
  });
  apply();
})();
