// django-celery-beat's periodic-task form: under the crontab field, the chosen
// schedule in words. Its template did this inline; the hub's CSP allows no inline
// script, so templates/admin/djcelery/change_periodictask_form.html loads this file.
"use strict";
(function ($) {
  const t = (s) => (window.gettext ? window.gettext(s) : s);
  const readableCrontabs = JSON.parse(document.getElementById("readable-crontabs").textContent);
  const help = $(".field-crontab .help");
  const originalHelp = help.text();

  $(".field-crontab_translation").hide();
  $(".field-crontab").on("change", function () {
    const words = readableCrontabs[$("#id_crontab").val()];
    help.text(originalHelp).append($("<br>"), document.createTextNode(`${t("Translation:")} ${words ?? ""}`));
  });
})(django.jQuery);
